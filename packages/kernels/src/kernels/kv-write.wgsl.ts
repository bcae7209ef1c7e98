import type { GpuDtype } from '@llm/quant';
import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/**
 * Scatters new K and V rows into the paged pool: cache[block, h, offset, d] = src[t, h, d] for the
 * pool layout [numBlocks, numKvHeads, blockSize, headDim], where slots[t] = block * blockSize +
 * offset.
 * Source rows may sit inside a wider row (a fused QKV output): element (t, h, d) is read at
 * t * row_stride + offset + h * headDim + d. Slot 0xFFFFFFFF skips a token (padding).
 * An f16 pool is written a pair of elements per invocation (one u32 of two halves, element d in
 * the low half), so headDim must be even.
 */
export function kvWriteKernel(dtype: GpuDtype) {
  const f16 = dtype === 'f16';
  // Elements per invocation.
  const n = f16 ? 2 : 1;
  const store = (cache: string, src: string, stride: string, offset: string) =>
    f16
      ? `${cache}[dst / 2u] = pack2x16float(vec2<f32>(${src}[t * params.${stride} + params.${offset} + e], ${src}[t * params.${stride} + params.${offset} + e + 1u]));`
      : `${cache}[dst] = ${src}[t * params.${stride} + params.${offset} + e];`;
  const cache = f16 ? 'u32' : 'f32';
  const declaration = declareKernel({
    name: 'kvWrite',
    params: {
      tokens: 'u32',
      row_len: 'u32', // numKvHeads * headDim
      k_stride: 'u32', // elements between tokens in k
      k_offset: 'u32',
      v_stride: 'u32',
      v_offset: 'u32',
      num_slots: 'u32', // numBlocks * blockSize
      head_dim: 'u32',
      block_size: 'u32',
    },
    bindings: {
      k: { access: 'read', type: 'f32' },
      v: { access: 'read', type: 'f32' },
      slots: { access: 'read', type: 'u32' },
      k_cache: { access: 'read_write', type: cache },
      v_cache: { access: 'read_write', type: cache },
    },
  });
  const body = /* wgsl */ `

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x) * ${n}u;
  if (i >= params.tokens * params.row_len) { return; }
  let t = i / params.row_len;
  let e = i - t * params.row_len;
  let slot = slots[t];
  if (slot >= params.num_slots) { return; }
  let h = e / params.head_dim;
  let d = e - h * params.head_dim;
  let block = slot / params.block_size;
  let offset = slot - block * params.block_size;
  let heads = params.row_len / params.head_dim;
  let dst = ((block * heads + h) * params.block_size + offset) * params.head_dim + d;
  ${store('k_cache', 'k', 'k_stride', 'k_offset')}
  ${store('v_cache', 'v', 'v_stride', 'v_offset')}
}
`;
  return { declaration, body };
}
