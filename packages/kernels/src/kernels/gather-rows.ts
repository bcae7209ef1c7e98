import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { gatherRowsKernel } from './gather-rows.wgsl.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface GatherRowsArgs {
  /** f32 [srcRows, dim]. */
  src: BufferBindingLike;
  /** u32 [count]: row of src for each output row (an index >= srcRows gives a NaN row). */
  rows: BufferBindingLike;
  /** f32 [count, dim]. */
  out: BufferBindingLike;
  srcRows: number;
  count: number;
  dim: number;
}

/** out[r] = src[rows[r]]: e.g. the last position of each sequence before the LM head. */
export function gatherRows(rec: StepRecorder, a: GatherRowsArgs): void {
  const name = 'gatherRows';
  requireInt(name, 'srcRows', a.srcRows, 1);
  requireInt(name, 'count', a.count, 1);
  requireInt(name, 'dim', a.dim, 1);
  requireBytes(name, 'src', a.src, a.srcRows * a.dim * 4);
  requireBytes(name, 'rows', a.rows, a.count * 4);
  requireBytes(name, 'out', a.out, a.count * a.dim * 4);
  requireDistinct(name, a.out, { src: a.src, rows: a.rows });
  const groups = Math.ceil((a.count * a.dim) / ELEMENTWISE_WORKGROUP);
  rec.dispatchKernel(
    kernelSource('gather-rows', '', gatherRowsKernel),
    { count: a.count, dim: a.dim, src_rows: a.srcRows, nan: Number.NaN },
    { src: a.src, rows: a.rows, out: a.out },
    grid1d(groups, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
