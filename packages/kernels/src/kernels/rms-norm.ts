import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { rmsNormKernel } from './rms-norm.wgsl.js';
import { grid1d } from './workgroup-grid.js';

export interface RmsNormArgs {
  /** f32 [rows, dim]. */
  x: BufferBindingLike;
  /** f32 [dim]. */
  weight: BufferBindingLike;
  /** f32 [rows, dim]; a different buffer from x. */
  out: BufferBindingLike;
  rows: number;
  dim: number;
  /** Added to the mean square (rms_norm_eps, e.g. 1e-5). */
  eps: number;
}

/** out = x / sqrt(mean(x²) + eps) * weight, per row. */
export function rmsNorm(rec: StepRecorder, a: RmsNormArgs): void {
  const name = 'rmsNorm';
  requireInt(name, 'rows', a.rows, 1);
  requireInt(name, 'dim', a.dim, 1);
  requireBytes(name, 'x', a.x, a.rows * a.dim * 4);
  requireBytes(name, 'weight', a.weight, a.dim * 4);
  requireBytes(name, 'out', a.out, a.rows * a.dim * 4);
  requireDistinct(name, a.out, { x: a.x, weight: a.weight });
  rec.dispatchKernel(
    kernelSource('rms-norm', '', rmsNormKernel),
    { rows: a.rows, dim: a.dim, eps: a.eps },
    { x: a.x, weight: a.weight, out: a.out },
    grid1d(a.rows, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
