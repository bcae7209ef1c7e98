import { declareKernel } from './kernel-declaration.js';
import type { MatrixDtype } from '@llm/quant';
import { storageFormat } from './storage-format.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/**
 * out[t, d] = table[ids[t], d] from one part of a [vocab, dim] GpuMatrix, row-major or in the
 * lanes layout of `lanes` rows (the same upload can serve as a tied LM head). Each part's
 * dispatch writes the tokens whose id falls in its range; the first part also writes NaN rows
 * for ids >= vocab so they cannot pass unnoticed.
 */
export function embeddingKernel(dtype: MatrixDtype, lanes = 0) {
  const format = storageFormat(dtype, false, lanes);
  const declaration = declareKernel({
    name: 'embedding',
    params: {
      count: 'u32', // tokens
      dim: 'u32',
      vocab: 'u32',
      row_start: 'u32', // first id held by this part
      rows: 'u32', // ids held by this part
      row_stride: 'u32', // elements per stored row
      write_invalid: 'u32',
      nan: 'f32', // a NaN from the host: WGSL constant expressions cannot produce one
    },
    bindings: {
      ids: { access: 'read', type: 'u32' },
      // f16 tables are read as u32 words holding two halves, so shader-f16 is not needed here.
      table: { access: 'read', format, unit: 'scalar', load: 'load_table' },
      table_scales: { access: 'read', type: 'u32', present: format.blocks !== undefined },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.count * params.dim) { return; }
  let t = i / params.dim;
  let d = i - t * params.dim;
  let id = ids[t];
  if (id >= params.vocab) {
    if (params.write_invalid != 0u) { out[i] = params.nan; }
    return;
  }
  if (id < params.row_start || id >= params.row_start + params.rows) { return; }
  out[i] = load_table((id - params.row_start) * params.row_stride + d);
}
`;
  return { declaration, body };
}
