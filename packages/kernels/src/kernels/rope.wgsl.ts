import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/**
 * Which elements form a rotated pair: 'adjacent' rotates (2i, 2i+1) (GGUF Llama, whose q/k
 * weights were permuted at conversion); 'halfSplit' rotates (i, i + headDim/2) (Hugging Face
 * checkpoints, GPT-NeoX).
 */
export type RopeLayout = 'adjacent' | 'halfSplit';

export interface RopeVariant {
  layout: RopeLayout;
  /** Llama 3 rope_freqs: per-pair divisors of the inverse frequency. */
  freqFactors: boolean;
  /**
   * q and k live in one buffer (a fused QKV output), bound once: WebGPU forbids two writable
   * bindings of the same buffer in one dispatch.
   */
  fused: boolean;
  /**
   * Also write each token's rotated K and its V into the paged pool, as kvWrite would ('f32', or
   * 'f16' with the 'adjacent' layout, whose pairs fill one u32 of two halves); V is read from
   * the binding of k when it lives in the same buffer ('sameAsK'), else from its own.
   */
  kvWrite?: { dtype: 'f32' | 'f16'; v: 'sameAsK' | 'own' } | undefined;
}

/**
 * The WGSL every kernel that applies rope shares (the rope kernel, the pairs product's rope
 * epilogue), so both give the same bits:
 * - `rope_cs(position, i, head_dim, log2_theta, position_scale, factor)`: (cos, sin) of the angle
 *   by which pair i of a head turns at a position, in f32 as llama.cpp computes it. The angle is
 *   carried in turns and its whole turns dropped before sin/cos, which keeps sin/cos inside
 *   [-pi, pi] where WGSL bounds their error, at any position.
 * - `rope_rotate(x, cs)`: the pair x turned by that angle.
 * - `rope_kv_row(slot, kv_head)`: where a KV head's row of a pool slot starts, as kvWrite places
 *   it (needs params block_size, num_kv_heads and head_dim).
 */
export const ROPE_WGSL = /* wgsl */ `
const TWO_PI = 6.283185307179586;
// log2(2*pi): folds the radians-to-turns division into the exponent.
const LOG2_TWO_PI = 2.651496129472319;

fn rope_cs(position: u32, i: u32, head_dim: u32, log2_theta: f32, position_scale: f32, factor: f32) -> vec2<f32> {
  // Turns per unit position: theta^(-2i/d) / (2 pi) / factor_i.
  let turns_per_pos = exp2(-(f32(2u * i) / f32(head_dim)) * log2_theta - LOG2_TWO_PI) / factor;
  let turns = f32(position) * position_scale * turns_per_pos;
  let angle = (turns - round(turns)) * TWO_PI;
  return vec2<f32>(cos(angle), sin(angle));
}

fn rope_rotate(x: vec2<f32>, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x.x * cs.x - x.y * cs.y, x.x * cs.y + x.y * cs.x);
}

fn rope_kv_row(slot: u32, kv_head: u32) -> u32 {
  let block = slot / params.block_size;
  let offset = slot - block * params.block_size;
  return ((block * params.num_kv_heads + kv_head) * params.block_size + offset) * params.head_dim;
}`;

/**
 * Rotary position embedding in place on q and k (and, with kvWrite, K and V into the pool). Pair i of a head at position p turns by
 * p * positionScale * theta^(-2i/headDim) / factor_i radians (ROPE_WGSL).
 */
export function ropeKernel(v: RopeVariant) {
  const pair =
    v.layout === 'adjacent' ? 'let i0 = 2u * i;\n  let i1 = i0 + 1u;' : 'let i0 = i;\n  let i1 = i + half;';
  const qName = v.fused ? 'qk' : 'q';
  const kName = v.fused ? 'qk' : 'k';
  const write = v.kvWrite !== undefined;
  const cache = v.kvWrite?.dtype === 'f16' ? 'u32' : 'f32';
  const declaration = declareKernel({
    name: 'rope',
    params: {
      tokens: 'u32',
      num_heads: 'u32',
      num_kv_heads: 'u32',
      head_dim: 'u32',
      q_stride: 'u32', // elements between tokens in q
      q_offset: 'u32',
      k_stride: 'u32',
      k_offset: 'u32',
      log2_theta: 'f32',
      position_scale: 'f32',
      // With kvWrite: where V sits, and the pool's shape.
      v_stride: 'u32',
      v_offset: 'u32',
      num_slots: 'u32', // numBlocks * blockSize
      block_size: 'u32',
    },
    bindings: {
      positions: { access: 'read', type: 'u32' },
      freq_factors: { access: 'read', type: 'f32', present: v.freqFactors },
      qk: { access: 'read_write', type: 'f32', present: v.fused },
      q: { access: 'read_write', type: 'f32', present: !v.fused },
      k: { access: 'read_write', type: 'f32', present: !v.fused },
      v: { access: 'read', type: 'f32', present: v.kvWrite?.v === 'own' },
      slots: { access: 'read', type: 'u32', present: write },
      k_cache: { access: 'read_write', type: cache, present: write },
      v_cache: { access: 'read_write', type: cache, present: write },
    },
  });
  const vName = v.kvWrite?.v === 'own' ? 'v' : kName;
  // The rotated pair (i0, i1) of K head kh and V's same pair, into the token's slot.
  const writeKv = !v.kvWrite
    ? ''
    : /* wgsl */ `
    let slot = slots[t];
    if (slot < params.num_slots) {
      let row = rope_kv_row(slot, kh);
      let vb = t * params.v_stride + params.v_offset + kh * params.head_dim;
      ${
        v.kvWrite.dtype === 'f16'
          ? `k_cache[(row + i0) / 2u] = pack2x16float(kr);
      v_cache[(row + i0) / 2u] = pack2x16float(vec2<f32>(${vName}[vb + i0], ${vName}[vb + i1]));`
          : `k_cache[row + i0] = kr.x;
      k_cache[row + i1] = kr.y;
      v_cache[row + i0] = ${vName}[vb + i0];
      v_cache[row + i1] = ${vName}[vb + i1];`
      }
    }`;
  const body = /* wgsl */ `
${ROPE_WGSL}

fn rotate_q(base: u32, i0: u32, i1: u32, cs: vec2<f32>) {
  let r = rope_rotate(vec2<f32>(${qName}[base + i0], ${qName}[base + i1]), cs);
  ${qName}[base + i0] = r.x;
  ${qName}[base + i1] = r.y;
}

fn rotate_k(base: u32, i0: u32, i1: u32, cs: vec2<f32>) -> vec2<f32> {
  let r = rope_rotate(vec2<f32>(${kName}[base + i0], ${kName}[base + i1]), cs);
  ${kName}[base + i0] = r.x;
  ${kName}[base + i1] = r.y;
  return r;
}

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  let half = params.head_dim / 2u;
  let heads = params.num_heads + params.num_kv_heads;
  if (idx >= params.tokens * heads * half) { return; }
  let i = idx % half;
  let th = idx / half;
  let h = th % heads;
  let t = th / heads;
  let cs = rope_cs(positions[t], i, params.head_dim, params.log2_theta, params.position_scale, ${v.freqFactors ? 'freq_factors[i]' : '1.0'});
  ${pair}
  if (h < params.num_heads) {
    rotate_q(t * params.q_stride + params.q_offset + h * params.head_dim, i0, i1, cs);
  } else {
    let kh = h - params.num_heads;
    let kr = rotate_k(t * params.k_stride + params.k_offset + kh * params.head_dim, i0, i1, cs);${writeKv}
  }
}
`;
  return { declaration, body };
}
