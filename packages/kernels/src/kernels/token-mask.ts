import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { tokenMaskKernel } from './token-mask.wgsl.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

/** u32 words of one row's token bitmask: bit t % 32 of word t / 32 is token t (set = allowed). */
export function tokenMaskWords(vocab: number): number {
  return Math.ceil(vocab / 32);
}

export interface TokenMaskArgs {
  /** f32 [rows, vocab], modified in place. */
  logits: BufferBindingLike;
  /** u32 [masks, tokenMaskWords(vocab)]: one bitmask per masked row, a set bit allows the token. */
  bitmask: BufferBindingLike;
  /** u32 [masks]: the logits row each bitmask applies to (distinct rows). */
  maskRows: BufferBindingLike;
  masks: number;
  rows: number;
  vocab: number;
}

/**
 * Sets the logits of tokens a row's bitmask disallows to -Infinity, in place, before sampling
 * (grammar-constrained decoding); rows without a bitmask are untouched. With no masks nothing is
 * recorded.
 */
export function tokenMask(rec: StepRecorder, a: TokenMaskArgs): void {
  const name = 'tokenMask';
  requireInt(name, 'rows', a.rows, 1);
  requireInt(name, 'vocab', a.vocab, 1);
  requireInt(name, 'masks', a.masks, 0, a.rows);
  const words = tokenMaskWords(a.vocab);
  requireBytes(name, 'logits', a.logits, a.rows * a.vocab * 4);
  requireBytes(name, 'bitmask', a.bitmask, a.masks * words * 4);
  requireBytes(name, 'maskRows', a.maskRows, a.masks * 4);
  requireDistinct(name, a.logits, { bitmask: a.bitmask, maskRows: a.maskRows });
  if (a.masks === 0) return;
  rec.dispatchKernel(
    kernelSource('token-mask', '', tokenMaskKernel),
    { masks: a.masks, rows: a.rows, vocab: a.vocab, words },
    { logits: a.logits, bitmask: a.bitmask, mask_rows: a.maskRows },
    grid1d(Math.ceil((a.masks * a.vocab) / ELEMENTWISE_WORKGROUP), rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
