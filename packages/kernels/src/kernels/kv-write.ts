import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt, requireRows } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { type GpuKvDtype } from '@llm/quant';
import { kvPoolRowBytes, requireKvPoolDtype } from './kv-pool-format.js';
import { kvWriteI4Kernel, kvWriteI8Kernel, kvWriteKernel } from './kv-write.wgsl.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface KvWriteArgs {
  /** f32 [tokens, numKvHeads, headDim] (or rows of kStride elements, see kOffset). */
  k: BufferBindingLike;
  /** f32 [tokens, numKvHeads, headDim] (or rows of vStride elements, see vOffset). */
  v: BufferBindingLike;
  /** u32 [tokens]: block * blockSize + offset of each token; 0xFFFFFFFF skips the token. */
  slots: BufferBindingLike;
  /** kvDtype [numBlocks, numKvHeads, blockSize, headDim] (i8, i4: see kv-pool-format.ts). */
  kCache: BufferBindingLike;
  /** kvDtype [numBlocks, numKvHeads, blockSize, headDim] (i8, i4: see kv-pool-format.ts). */
  vCache: BufferBindingLike;
  /**
   * Element type of the pool; default 'f32'. f16 rounds to nearest and needs an even headDim;
   * i8 quantizes each (token, KV head) row with one f16 scale (@llm/quant's quantizeKvI8Row)
   * and needs a headDim that is a multiple of 4 and an even blockSize; i4 quantizes each row's
   * groups of at most 32 values with one f16 scale each (@llm/quant's quantizeKvI4Row) and needs
   * a headDim that is a power of two from 8 to 256. Rows are written as given: rotating K for an
   * i4 pool (hadamardRows) is the caller's step.
   */
  kvDtype?: GpuKvDtype;
  tokens: number;
  numKvHeads: number;
  headDim: number;
  numBlocks: number;
  blockSize: number;
  /** Elements between consecutive tokens of k (a fused QKV row); default numKvHeads * headDim. */
  kStride?: number;
  /** Elements before a token's K inside its row; default 0. */
  kOffset?: number;
  vStride?: number;
  vOffset?: number;
}

/** Writes each new token's K and V into its slot of the paged pool. */
export function kvWrite(rec: StepRecorder, a: KvWriteArgs): void {
  const name = 'kvWrite';
  requireInt(name, 'tokens', a.tokens, 1);
  requireInt(name, 'numKvHeads', a.numKvHeads, 1);
  requireInt(name, 'headDim', a.headDim, 1);
  requireInt(name, 'numBlocks', a.numBlocks, 1);
  requireInt(name, 'blockSize', a.blockSize, 1);
  const dtype = a.kvDtype ?? 'f32';
  requireKvPoolDtype(name, dtype, a.headDim);
  if (dtype === 'i8' && a.blockSize % 2 !== 0) {
    throw new KernelShapeError(name, `an i8 pool needs an even blockSize (two rows share a scale word), got ${a.blockSize}`);
  }
  const rowLen = a.numKvHeads * a.headDim;
  const kStride = a.kStride ?? rowLen;
  const kOffset = a.kOffset ?? 0;
  const vStride = a.vStride ?? rowLen;
  const vOffset = a.vOffset ?? 0;
  const what = 'numKvHeads * headDim';
  requireRows(name, 'k', a.k, { tokens: a.tokens, len: rowLen, what, stride: kStride, offset: kOffset });
  requireRows(name, 'v', a.v, { tokens: a.tokens, len: rowLen, what, stride: vStride, offset: vOffset });
  const numSlots = requireKvPool(name, '', a, a.tokens, a.numKvHeads, a.headDim, dtype);
  requireDistinct(name, a.kCache, { k: a.k, v: a.v, slots: a.slots });
  requireDistinct(name, a.vCache, { k: a.k, v: a.v, slots: a.slots });
  const kernel =
    dtype === 'i8'
      ? kernelSource('kv-write', dtype, kvWriteI8Kernel)
      : dtype === 'i4'
        ? kernelSource('kv-write', `i4/${a.headDim}`, () => kvWriteI4Kernel(a.headDim))
        : kernelSource('kv-write', dtype, () => kvWriteKernel(dtype));
  // f16: an element pair per invocation; i8 and i4: a whole row.
  const perInvocation = dtype === 'f16' ? 2 : dtype === 'i8' || dtype === 'i4' ? a.headDim : 1;
  const groups = grid1d(
    Math.ceil((a.tokens * rowLen) / perInvocation / ELEMENTWISE_WORKGROUP),
    rec.ctx.limits.maxComputeWorkgroupsPerDimension,
  );
  const params = {
    tokens: a.tokens,
    row_len: rowLen,
    k_stride: kStride,
    k_offset: kOffset,
    v_stride: vStride,
    v_offset: vOffset,
    num_slots: numSlots,
    head_dim: a.headDim,
    block_size: a.blockSize,
  };
  const buffers = { k: a.k, v: a.v, slots: a.slots, k_cache: a.kCache, v_cache: a.vCache };
  rec.dispatchKernel(kernel, params, buffers, groups);
}

/**
 * The pool side of a K/V write (kvWrite, and rope's kvWrite option): the slots of `tokens` tokens
 * and two caches of numBlocks x blockSize slots of `dtype` rows, distinct buffers. Returns the
 * slot count. `prefix` goes before the names in messages.
 */
export function requireKvPool(
  kernel: string,
  prefix: string,
  p: Pick<KvWriteArgs, 'slots' | 'kCache' | 'vCache' | 'numBlocks' | 'blockSize'>,
  tokens: number,
  numKvHeads: number,
  headDim: number,
  dtype: GpuKvDtype,
): number {
  requireBytes(kernel, `${prefix}slots`, p.slots, tokens * 4);
  const numSlots = p.numBlocks * p.blockSize;
  const poolBytes = numSlots * numKvHeads * kvPoolRowBytes(dtype, headDim);
  requireBytes(kernel, `${prefix}kCache`, p.kCache, poolBytes);
  requireBytes(kernel, `${prefix}vCache`, p.vCache, poolBytes);
  requireDistinct(kernel, p.kCache, { vCache: p.vCache });
  return numSlots;
}
