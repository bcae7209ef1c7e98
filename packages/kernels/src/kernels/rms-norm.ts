import { I8_GROUP } from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireInt8Activations, type NormInt8Output } from './int8-pairs.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { rmsNormKernel, rmsNormRowKernel } from './rms-norm.wgsl.js';
import { cpuWorkgroup, grid1d } from './workgroup-grid.js';

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
  /**
   * 'row': an invocation per row, no barrier (CPU adapters); 'workgroup': a workgroup per row
   * reducing in workgroup memory (GPUs). By default the adapter's.
   */
  kernel?: 'row' | 'workgroup' | undefined;
  /**
   * Also write the norm's input for a product over int8 activations, the scale deferred to the
   * product: x times weight quantized per 32-value group and each group's sum of squares of x
   * (NormInt8Output; the product takes it as `int8X` with `norm: { sums, eps }`). The 'row'
   * kernel; dim % 32 == 0.
   */
  int8?: NormInt8Output | undefined;
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
  const ctx = rec.ctx;
  const maxPerDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const kernel = a.kernel ?? (ctx.isCpuAdapter ? 'row' : 'workgroup');
  if (a.int8) {
    if (kernel !== 'row' || a.dim % I8_GROUP !== 0) {
      throw new KernelShapeError(name, `int8 output needs the row kernel and dim a multiple of ${I8_GROUP}, got ${kernel} and ${a.dim}`);
    }
    requireInt8Activations(name, 'int8', a.int8, a.rows, a.dim);
  }
  if (kernel === 'row') {
    const vec4 = a.dim % 4 === 0;
    const int8 = a.int8 !== undefined;
    const workgroup = cpuWorkgroup(a.rows, ctx.subgroupSize ?? 8);
    rec.dispatchKernel(
      kernelSource('rms-norm', `row${vec4 ? 'v4' : ''}w${workgroup}${int8 ? 'i8' : ''}`, () => rmsNormRowKernel(vec4, workgroup, int8)),
      { rows: a.rows, dim: a.dim, eps: a.eps },
      { x: a.x, weight: a.weight, out: a.out, xq: a.int8?.xq, xg: a.int8?.xg, xn: a.int8?.sums },
      grid1d(Math.ceil(a.rows / workgroup), maxPerDim),
    );
    return;
  }
  rec.dispatchKernel(
    kernelSource('rms-norm', '', rmsNormKernel),
    { rows: a.rows, dim: a.dim, eps: a.eps },
    { x: a.x, weight: a.weight, out: a.out },
    grid1d(a.rows, maxPerDim),
  );
}
