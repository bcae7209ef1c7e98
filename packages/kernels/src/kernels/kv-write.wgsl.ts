import { kvI4Groups, type GpuDtype } from '@llm/quant';
import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';
import { I8_QUANTIZE_WGSL, symmetricQuantizeWgsl } from './i8-quantize.wgsl.js';
import { i4RowWords } from './kv-pool-format.js';

const KV_WRITE_PARAMS = {
  tokens: 'u32',
  row_len: 'u32', // numKvHeads * headDim
  k_stride: 'u32', // elements between tokens in k
  k_offset: 'u32',
  v_stride: 'u32',
  v_offset: 'u32',
  num_slots: 'u32', // numBlocks * blockSize
  head_dim: 'u32',
  block_size: 'u32',
} as const;

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
    params: KV_WRITE_PARAMS,
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

/**
 * A kv-write kernel over a quantized pool: one invocation per (token, KV head) row, r the row's
 * index in the pool; `rowSetup` (WGSL statements) derives the row's addresses from r, and
 * `quantizeRow(cache, src, stride, offset)` writes one row of src (K or V) into cache.
 */
function quantizedKvWriteKernel(
  cache: 'u32' | 'atomic<u32>',
  prelude: string,
  rowSetup: string,
  quantizeRow: (cache: string, src: string, stride: string, offset: string) => string,
) {
  const declaration = declareKernel({
    name: 'kvWrite',
    params: KV_WRITE_PARAMS,
    bindings: {
      k: { access: 'read', type: 'f32' },
      v: { access: 'read', type: 'f32' },
      slots: { access: 'read', type: 'u32' },
      k_cache: { access: 'read_write', type: cache },
      v_cache: { access: 'read_write', type: cache },
    },
  });
  const body = /* wgsl */ `${prelude}

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  let heads = params.row_len / params.head_dim;
  if (i >= params.tokens * heads) { return; }
  let t = i / heads;
  let h = i - t * heads;
  let slot = slots[t];
  if (slot >= params.num_slots) { return; }
  let block = slot / params.block_size;
  let offset = slot - block * params.block_size;
  let r = (block * heads + h) * params.block_size + offset;
  ${rowSetup}
${quantizeRow('k_cache', 'k', 'k_stride', 'k_offset')}
${quantizeRow('v_cache', 'v', 'v_stride', 'v_offset')}
}
`;
  return { declaration, body };
}

/**
 * Writes new K and V rows into an i8 pool (layout in kv-pool-format.ts): the row's absmax, its
 * f16 scale, then its int8 values four to a word. The arithmetic is @llm/quant's quantizeKvI8Row
 * step for step (exact in f32), so the pool holds the same bits as the CPU's. Two rows (two
 * tokens) share a scale word: each sets its own half with atomicAnd/atomicOr, the only place
 * invocations touch the same word.
 */
export function kvWriteI8Kernel() {
  const rowSetup = /* wgsl */ `let d4 = params.head_dim / 4u;
  let base = (r >> 1u) * (2u * d4 + 1u);
  let dataAt = base + (r & 1u) * d4;
  let scaleAt = base + 2u * d4;
  let shift = (r & 1u) * 16u;`;
  return quantizedKvWriteKernel('atomic<u32>', I8_QUANTIZE_WGSL, rowSetup, (cache, src, stride, offset) => /* wgsl */ `
  {
    let at = t * params.${stride} + params.${offset} + h * params.head_dim;
    var amax = 0.0;
    for (var d = 0u; d < params.head_dim; d++) {
      amax = max(amax, abs(${src}[at + d]));
    }
    let s = rowScale(amax);
    for (var c = 0u; c < d4; c++) {
      let e = at + 4u * c;
      let q = quantize(vec4<f32>(${src}[e], ${src}[e + 1u], ${src}[e + 2u], ${src}[e + 3u]), s);
      atomicStore(&${cache}[dataAt + c], pack4(q));
    }
    // s is an exact f16 value, so the conversion does not round.
    let bits = pack2x16float(vec2<f32>(s, 0.0)) & 0xffffu;
    atomicAnd(&${cache}[scaleAt], ~(0xffffu << shift));
    atomicOr(&${cache}[scaleAt], bits << shift);
  }`);
}

/**
 * Writes new K and V rows of `headDim` values into an i4 pool (layout in kv-pool-format.ts): each
 * group's absmax and f16 scale (written first, two to a word), then the row's values eight to a
 * word, each quantized with its group's scale read back. The arithmetic is @llm/quant's
 * quantizeKvI4Row step for step (exact in f32), so the pool holds the same bits as the CPU's. Rows
 * share no words.
 */
export function kvWriteI4Kernel(headDim: number) {
  const groups = kvI4Groups(headDim);
  const rowSetup = /* wgsl */ `let groups = ${groups}u;
  let size = ${headDim / groups}u;
  let words = ${headDim / 8}u;
  let base = r * ${i4RowWords(headDim)}u;`;
  return quantizedKvWriteKernel('u32', symmetricQuantizeWgsl(7), rowSetup, (cache, src, stride, offset) => /* wgsl */ `
  {
    let at = t * params.${stride} + params.${offset} + h * params.head_dim;
    for (var p = 0u; p < groups / 2u; p++) {
      var amax = vec2<f32>(0.0);
      for (var d = 0u; d < size; d++) {
        amax = max(amax, abs(vec2<f32>(${src}[at + 2u * p * size + d], ${src}[at + (2u * p + 1u) * size + d])));
      }
      // Both scales are exact f16 values, so the conversion does not round.
      ${cache}[base + words + p] = pack2x16float(vec2<f32>(rowScale(amax.x), rowScale(amax.y)));
    }
    for (var w = 0u; w < words; w++) {
      var word = 0u;
      for (var half = 0u; half < 2u; half++) {
        let e = 8u * w + 4u * half;
        let g = e / size;
        let s = unpack2x16float(${cache}[base + words + (g >> 1u)])[g & 1u];
        let q = quantize(vec4<f32>(${src}[at + e], ${src}[at + e + 1u], ${src}[at + e + 2u], ${src}[at + e + 3u]), s);
        let b = bitcast<vec4<u32>>(q) & vec4<u32>(15u);
        word |= (b.x | (b.y << 4u) | (b.z << 8u) | (b.w << 12u)) << (16u * half);
      }
      ${cache}[base + w] = word;
    }
  }`);
}
