import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { packParams, requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import {
  MATMUL_TILE_COLS,
  MATMUL_TILE_ROWS,
  MATVEC_WORKGROUP,
  matmulWgsl,
  matvecWgsl,
  weightRead,
} from './linear.wgsl.js';
import type { LinearVariant } from './linear.wgsl.js';
import type { GpuMatrix } from './matrix.js';

export interface LinearArgs {
  /** f32 [m, K]. */
  x: BufferBindingLike;
  /** Weight [N, K] (PyTorch layout), from uploadMatrix. */
  w: GpuMatrix;
  /** f32 [m, N]; must not be the same buffer as x, bias or residual. */
  out: BufferBindingLike;
  m: number;
  /** f32 [N], added to every row. */
  bias?: BufferBindingLike | undefined;
  /** f32 [m, N], added to the result (a separate buffer from out). */
  residual?: BufferBindingLike | undefined;
}

/**
 * Rows handled by the matvec kernel in one pass over the weights; more rows go to the tiled
 * kernel. Up to 8 the weight read dominates, so one pass for all rows costs about one matvec.
 */
export const MATVEC_MAX_ROWS = 8;

// Row counts compiled for the matvec kernel: m rounds up to the next, which bounds the number of
// pipelines (each costs a shader compile) at a small cost for the padding rows.
function matvecRows(m: number): number {
  return m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
}

/** out[m, N] = x[m, K] · Wᵀ (+ bias) (+ residual). */
export function linear(rec: StepRecorder, a: LinearArgs): void {
  const name = 'linear';
  const { w, m } = a;
  requireInt(name, 'm', m, 1);
  requireBytes(name, 'x', a.x, m * w.cols * 4);
  requireBytes(name, 'out', a.out, m * w.rows * 4);
  if (a.bias) requireBytes(name, 'bias', a.bias, w.rows * 4);
  if (a.residual) requireBytes(name, 'residual', a.residual, m * w.rows * 4);
  requireDistinct(name, a.out, { x: a.x, bias: a.bias, residual: a.residual });

  const ctx = rec.ctx;
  const variant: LinearVariant = {
    read: weightRead(w.dtype, ctx.features.shaderF16),
    bias: a.bias !== undefined,
    residual: a.residual !== undefined,
  };
  const key = `${variant.read}${variant.bias ? '+bias' : ''}${variant.residual ? '+residual' : ''}`;
  const tiled = m > MATVEC_MAX_ROWS;
  const source = tiled
    ? kernelSource('matmul', key, () => matmulWgsl(variant))
    : kernelSource('matvec', `${key}/rows${matvecRows(m)}`, () => matvecWgsl(variant, matvecRows(m)));
  const pipeline = ctx.pipeline(source);
  const extra: BufferBindingLike[] = [];
  if (a.bias) extra.push(a.bias);
  if (a.residual) extra.push(a.residual);
  for (const part of w.parts) {
    const cols4 = part.paddedCols / 4;
    const params = packParams([w.cols, cols4, part.cols, part.colStart, w.rows, 0, m]);
    const groups: [number, number] = tiled
      ? [Math.ceil(cols4 / (MATMUL_TILE_COLS / 4)), Math.ceil(m / MATMUL_TILE_ROWS)]
      : [Math.ceil(cols4 / MATVEC_WORKGROUP), 1];
    rec.dispatch(pipeline, params, [a.x, part.buffer, a.out, ...extra], groups);
  }
}
