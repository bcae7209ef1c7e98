import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { gatherColumnsKernel } from './gather-columns.wgsl.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface GatherColumnsArgs {
  /** f32 [count, dim]. */
  x: BufferBindingLike;
  /** u32 [dim]: a permutation of 0..dim-1 (the caller's invariant: indices are not checked here). */
  order: BufferBindingLike;
  /** f32 [count, dim]. */
  out: BufferBindingLike;
  count: number;
  dim: number;
}

/**
 * out[t, i] = x[t, order[i]]: the inputs of a product whose weight columns are stored in another
 * order (an act-order GPTQ layer, its columns sorted by group), put in that order.
 */
export function gatherColumns(rec: StepRecorder, a: GatherColumnsArgs): void {
  const name = 'gatherColumns';
  requireInt(name, 'count', a.count, 1);
  requireInt(name, 'dim', a.dim, 1);
  requireBytes(name, 'x', a.x, a.count * a.dim * 4);
  requireBytes(name, 'order', a.order, a.dim * 4);
  requireBytes(name, 'out', a.out, a.count * a.dim * 4);
  requireDistinct(name, a.out, { x: a.x, order: a.order });
  const groups = Math.ceil((a.count * a.dim) / ELEMENTWISE_WORKGROUP);
  rec.dispatchKernel(
    kernelSource('gather-columns', '', gatherColumnsKernel),
    { count: a.count, dim: a.dim },
    { x: a.x, order: a.order, out: a.out },
    grid1d(groups, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
