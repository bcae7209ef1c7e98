import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { argmaxKernel } from './argmax.wgsl.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { grid1d } from './workgroup-grid.js';

export interface ArgmaxArgs {
  /** f32 [rows, vocab]. */
  logits: BufferBindingLike;
  /** u32 [rows]. */
  out: BufferBindingLike;
  rows: number;
  vocab: number;
}

/**
 * Greedy decoding: out[r] = argmax of row r. Ties go to the lowest index; NaN counts as the
 * largest value (like torch.argmax), so a row holding NaN returns its first NaN's index.
 */
export function argmax(rec: StepRecorder, a: ArgmaxArgs): void {
  const name = 'argmax';
  requireInt(name, 'rows', a.rows, 1);
  requireInt(name, 'vocab', a.vocab, 1);
  requireBytes(name, 'logits', a.logits, a.rows * a.vocab * 4);
  requireBytes(name, 'out', a.out, a.rows * 4);
  requireDistinct(name, a.out, { logits: a.logits });
  rec.dispatchKernel(
    kernelSource('argmax', '', argmaxKernel),
    { rows: a.rows, vocab: a.vocab },
    { logits: a.logits, out: a.out },
    grid1d(a.rows, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
