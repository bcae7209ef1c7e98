import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { addKernel } from './add.wgsl.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface AddArgs {
  /** f32 [length]. */
  a: BufferBindingLike;
  /** f32 [length]. */
  b: BufferBindingLike;
  /** f32 [length]; a different buffer from a and b. */
  out: BufferBindingLike;
  length: number;
}

/** out = a + b, elementwise. */
export function add(rec: StepRecorder, args: AddArgs): void {
  const name = 'add';
  requireInt(name, 'length', args.length, 1);
  requireBytes(name, 'a', args.a, args.length * 4);
  requireBytes(name, 'b', args.b, args.length * 4);
  requireBytes(name, 'out', args.out, args.length * 4);
  requireDistinct(name, args.out, { a: args.a, b: args.b });
  const groups = Math.ceil(args.length / ELEMENTWISE_WORKGROUP);
  rec.dispatchKernel(
    kernelSource('add', '', addKernel),
    { length: args.length },
    { a: args.a, b: args.b, out: args.out },
    grid1d(groups, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
