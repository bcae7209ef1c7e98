import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import {
  bufferOf,
  requireBytes,
  requireDistinct,
  requireInt,
  requireRows,
  sameRange,
} from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { requireKvPool } from './kv-write.js';
import { ropeKernel } from './rope.wgsl.js';
import type { RopeLayout, RopeVariant } from './rope.wgsl.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface RopeArgs {
  /**
   * f32 [tokens, numHeads, headDim], rotated in place (or rows of qStride elements from qOffset).
   * q and k may be the same buffer (a fused QKV output): then pass the same binding for both.
   */
  q: BufferBindingLike;
  /** f32 [tokens, numKvHeads, headDim], rotated in place (or rows of kStride elements from kOffset). */
  k: BufferBindingLike;
  /** u32 [tokens]. */
  positions: BufferBindingLike;
  tokens: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** rope_theta, e.g. 10000 or 500000. */
  theta: number;
  layout: RopeLayout;
  /** f32 [headDim / 2]: Llama 3 rope_freqs, inverse frequency i divided by factor i. */
  freqFactors?: BufferBindingLike | undefined;
  /** Multiplies positions (linear RoPE scaling: 1 / scaling factor); default 1. */
  positionScale?: number | undefined;
  /** Elements between tokens of q (a fused QKV row); default numHeads * headDim. */
  qStride?: number | undefined;
  /** Elements before a token's q inside its row; default 0. */
  qOffset?: number | undefined;
  kStride?: number | undefined;
  kOffset?: number | undefined;
  /**
   * Also write each token's rotated K and its V into the paged pool in the same dispatch, as
   * `kvWrite` after `rope` would (the same bits): one dispatch fewer per layer and step. For an
   * f32 pool, or an f16 pool with the 'adjacent' layout (see {@link ropeWritesKv}).
   */
  kvWrite?: RopeKvWrite | undefined;
}

/** Where `rope` writes K and V (the fields as in KvWriteArgs). */
export interface RopeKvWrite {
  /** f32 V rows; may be k's buffer (pass the same binding, place V with vOffset), not q's. */
  v: BufferBindingLike;
  vStride?: number | undefined;
  vOffset?: number | undefined;
  /** u32 [tokens]: block * blockSize + offset of each token; 0xFFFFFFFF skips the token. */
  slots: BufferBindingLike;
  kCache: BufferBindingLike;
  vCache: BufferBindingLike;
  numBlocks: number;
  blockSize: number;
  /** Default 'f32'. */
  kvDtype?: 'f32' | 'f16' | undefined;
}

/**
 * Whether `rope` writes a pool of this element type itself (`kvWrite`): f32, and f16 with the
 * 'adjacent' layout, whose rotated pairs are the two halves of one u32. Otherwise (an i8 pool's
 * rows are quantized whole) record `kvWrite` after `rope`.
 */
export function ropeWritesKv(layout: RopeLayout, kvDtype: string): kvDtype is 'f32' | 'f16' {
  return kvDtype === 'f32' || (kvDtype === 'f16' && layout === 'adjacent');
}

/** Rotates q and k in place by their tokens' positions (and writes K and V into the pool with kvWrite). */
export function rope(rec: StepRecorder, a: RopeArgs): void {
  const { kernel, params, buffers, invocations } = checkedRope('rope', a);
  const groups = grid1d(
    Math.ceil(invocations / ELEMENTWISE_WORKGROUP),
    rec.ctx.limits.maxComputeWorkgroupsPerDimension,
  );
  rec.dispatchKernel(kernel, params, buffers, groups);
}

/** rope's arguments checked (KernelShapeError naming `name`), and its kernel, params and buffers. */
export function checkedRope(name: string, a: RopeArgs) {
  requireInt(name, 'tokens', a.tokens, 1);
  requireInt(name, 'numHeads', a.numHeads, 1);
  requireInt(name, 'numKvHeads', a.numKvHeads, 1);
  requireInt(name, 'headDim', a.headDim, 2);
  if (a.headDim % 2 !== 0) throw new KernelShapeError(name, `headDim must be even, got ${a.headDim}`);
  if (!(a.theta > 1)) throw new KernelShapeError(name, `theta must be > 1, got ${a.theta}`);
  const positionScale = a.positionScale ?? 1;
  if (!(positionScale > 0))
    throw new KernelShapeError(name, `positionScale must be > 0, got ${positionScale}`);
  const qLen = a.numHeads * a.headDim;
  const kLen = a.numKvHeads * a.headDim;
  const qStride = a.qStride ?? qLen;
  const qOffset = a.qOffset ?? 0;
  const kStride = a.kStride ?? kLen;
  const kOffset = a.kOffset ?? 0;
  requireRows(name, 'q', a.q, {
    tokens: a.tokens,
    len: qLen,
    what: 'heads * headDim',
    stride: qStride,
    offset: qOffset,
  });
  requireRows(name, 'k', a.k, {
    tokens: a.tokens,
    len: kLen,
    what: 'heads * headDim',
    stride: kStride,
    offset: kOffset,
  });
  requireBytes(name, 'positions', a.positions, a.tokens * 4);
  if (a.freqFactors) requireBytes(name, 'freqFactors', a.freqFactors, (a.headDim / 2) * 4);
  const fused = bufferOf(a.q) === bufferOf(a.k);
  if (fused && !sameRange(a.q, a.k)) {
    throw new KernelShapeError(
      name,
      'q and k share a buffer through different ranges; pass the same binding for both and place k with kOffset',
    );
  }
  const w = a.kvWrite;
  const kvDtype = w?.kvDtype ?? 'f32';
  const kvLayout = { vStride: kLen, vOffset: 0, numSlots: 0, vFromK: false };
  if (w) {
    if (!ropeWritesKv(a.layout, kvDtype)) {
      throw new KernelShapeError(
        name,
        `kvWrite takes an f32 pool, or an f16 pool with the 'adjacent' layout; got ${String(kvDtype)} with '${a.layout}' (record kvWrite after rope)`,
      );
    }
    requireInt(name, 'kvWrite.numBlocks', w.numBlocks, 1);
    requireInt(name, 'kvWrite.blockSize', w.blockSize, 1);
    kvLayout.vStride = w.vStride ?? kLen;
    kvLayout.vOffset = w.vOffset ?? 0;
    requireRows(name, 'kvWrite.v', w.v, {
      tokens: a.tokens,
      len: kLen,
      what: 'numKvHeads * headDim',
      stride: kvLayout.vStride,
      offset: kvLayout.vOffset,
    });
    kvLayout.numSlots = requireKvPool(name, 'kvWrite.', w, a.tokens, a.numKvHeads, a.headDim, kvDtype);
    kvLayout.vFromK = bufferOf(w.v) === bufferOf(a.k);
    if (kvLayout.vFromK && !sameRange(w.v, a.k)) {
      throw new KernelShapeError(
        name,
        "kvWrite.v shares k's buffer through a different range; pass the same binding and place V with vOffset",
      );
    }
    // V is read through k's binding or its own, read-only one, which no written binding may alias.
    const reads = {
      positions: a.positions,
      freqFactors: a.freqFactors,
      slots: w.slots,
      v: kvLayout.vFromK ? undefined : w.v,
    };
    for (const written of [a.q, a.k, w.kCache, w.vCache]) requireDistinct(name, written, reads);
    requireDistinct(name, w.kCache, { q: a.q, k: a.k });
    requireDistinct(name, w.vCache, { q: a.q, k: a.k });
  }
  const variant: RopeVariant = {
    layout: a.layout,
    freqFactors: a.freqFactors !== undefined,
    fused,
    kvWrite: w ? { dtype: kvDtype, v: kvLayout.vFromK ? 'sameAsK' : 'own' } : undefined,
  };
  const key =
    `${variant.layout}${variant.freqFactors ? '+factors' : ''}${fused ? '+fused' : ''}` +
    (variant.kvWrite ? `+kv-${variant.kvWrite.dtype}-${variant.kvWrite.v}` : '');
  const kernel = kernelSource('rope', key, () => ropeKernel(variant));
  const invocations = a.tokens * (a.numHeads + a.numKvHeads) * (a.headDim / 2);
  const params = {
    tokens: a.tokens,
    num_heads: a.numHeads,
    num_kv_heads: a.numKvHeads,
    head_dim: a.headDim,
    q_stride: qStride,
    q_offset: qOffset,
    k_stride: kStride,
    k_offset: kOffset,
    log2_theta: Math.log2(a.theta),
    position_scale: positionScale,
    v_stride: kvLayout.vStride,
    v_offset: kvLayout.vOffset,
    num_slots: kvLayout.numSlots,
    block_size: w?.blockSize ?? 1,
  };
  const pool = w
    ? { v: kvLayout.vFromK ? undefined : w.v, slots: w.slots, k_cache: w.kCache, v_cache: w.vCache }
    : {};
  const buffers = fused
    ? { positions: a.positions, freq_factors: a.freqFactors, qk: a.q, ...pool }
    : { positions: a.positions, freq_factors: a.freqFactors, q: a.q, k: a.k, ...pool };
  return { kernel, params, buffers, invocations };
}
