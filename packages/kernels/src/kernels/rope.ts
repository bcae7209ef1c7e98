import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { bufferOf, requireBytes, requireInt, sameRange } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
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
}

/** Rotates q and k in place by their tokens' positions. */
export function rope(rec: StepRecorder, a: RopeArgs): void {
  const name = 'rope';
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
  for (const [n, stride, offset, len] of [
    ['q', qStride, qOffset, qLen],
    ['k', kStride, kOffset, kLen],
  ] as const) {
    requireInt(name, `${n}Offset`, offset, 0);
    if (!Number.isInteger(stride) || offset + len > stride) {
      throw new KernelShapeError(
        name,
        `${n}Stride ${stride} must hold ${n}Offset ${offset} + heads * headDim ${len}`,
      );
    }
  }
  requireBytes(name, 'q', a.q, ((a.tokens - 1) * qStride + qOffset + qLen) * 4);
  requireBytes(name, 'k', a.k, ((a.tokens - 1) * kStride + kOffset + kLen) * 4);
  requireBytes(name, 'positions', a.positions, a.tokens * 4);
  if (a.freqFactors) requireBytes(name, 'freqFactors', a.freqFactors, (a.headDim / 2) * 4);
  const fused = bufferOf(a.q) === bufferOf(a.k);
  if (fused && !sameRange(a.q, a.k)) {
    throw new KernelShapeError(
      name,
      'q and k share a buffer through different ranges; pass the same binding for both and place k with kOffset',
    );
  }
  const variant: RopeVariant = { layout: a.layout, freqFactors: a.freqFactors !== undefined, fused };
  const key = `${variant.layout}${variant.freqFactors ? '+factors' : ''}${fused ? '+fused' : ''}`;
  const kernel = kernelSource('rope', key, () => ropeKernel(variant));
  const invocations = a.tokens * (a.numHeads + a.numKvHeads) * (a.headDim / 2);
  const groups = grid1d(
    Math.ceil(invocations / ELEMENTWISE_WORKGROUP),
    rec.ctx.limits.maxComputeWorkgroupsPerDimension,
  );
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
  };
  const buffers = fused
    ? { positions: a.positions, freq_factors: a.freqFactors, qk: a.q }
    : { positions: a.positions, freq_factors: a.freqFactors, q: a.q, k: a.k };
  rec.dispatchKernel(kernel, params, buffers, groups);
}
