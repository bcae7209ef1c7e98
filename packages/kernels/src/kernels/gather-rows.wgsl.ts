import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/**
 * out[r, :] = src[rows[r], :]; a row index >= srcRows yields a row of NaN so the mistake shows
 * downstream instead of reading another buffer's data.
 */
export function gatherRowsKernel() {
  const declaration = declareKernel({
    name: 'gatherRows',
    params: {
      count: 'u32', // rows gathered
      dim: 'u32',
      src_rows: 'u32',
      nan: 'f32', // a NaN from the host: WGSL constant expressions cannot produce one
    },
    bindings: {
      src: { access: 'read', type: 'f32' },
      rows: { access: 'read', type: 'u32' },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.count * params.dim) { return; }
  let r = i / params.dim;
  let d = i - r * params.dim;
  let s = rows[r];
  if (s < params.src_rows) {
    out[i] = src[s * params.dim + d];
  } else {
    out[i] = params.nan;
  }
}
`;
  return { declaration, body };
}
