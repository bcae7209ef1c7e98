import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import {
  MATMUL_TILE_COLS,
  MATMUL_TILE_ROWS,
  matmulKernel,
  matvecKernel,
  matvecShape,
} from './linear.wgsl.js';
import type { LinearVariant, MatvecShape } from './linear.wgsl.js';
import type { GpuMatrix, GpuMatrixPart } from './matrix.js';
import { storageFormat } from './storage-format.js';

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
  /** Workgroup shape of the matvec path; by default chosen for the adapter (see matvecShape). */
  matvecShape?: MatvecShape | undefined;
  /**
   * 'matvec' runs m > 8 as passes of 8 rows; 'matmul' tiles in workgroup memory. By default
   * matvec for m <= 8, and for every m on a CPU adapter, where broadcast x loads and one weight
   * gather per 4 columns beat workgroup-memory tiles, whose every read is a per-lane gather.
   */
  path?: 'matvec' | 'matmul' | undefined;
  /**
   * Read f16 weights as native f16 (needs shader-f16) rather than unpacking u32 pairs. By
   * default native with shader-f16, except for single-row matvecs on a CPU adapter, where
   * unpacking is about twice as fast.
   */
  f16Native?: boolean | undefined;
}

/**
 * Rows handled by the matvec kernel in one pass over the weights. Up to 8 the weight read
 * dominates, so one pass for all rows costs about one matvec.
 */
export const MATVEC_MAX_ROWS = 8;

// Row counts compiled for the matvec kernel: m rounds up to the next, which bounds the number of
// pipelines (each costs a shader compile) at a small cost for the padding rows.
function matvecRows(m: number): number {
  return m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
}

/**
 * Subgroup size for shared x loads (see MatvecShape.xSubgroup) when they pay off: a CPU adapter
 * with a fixed subgroup size, K % 4 == 0, and more than one row (measured on lavapipe, 4096x4096
 * f32: 8 rows go from 1.3 to 5 GB/s; a single row is faster without).
 */
function subgroupXLoads(
  ctx: GpuContext,
  shape: MatvecShape,
  k: number,
  rows: number,
  explicit: MatvecShape | undefined,
): number {
  if (explicit) return explicit.xSubgroup;
  const size = ctx.subgroupSize;
  if (!ctx.isCpuAdapter || !ctx.features.subgroups || size === undefined || shape.kSlices !== 1) return 0;
  if (k % 4 !== 0 || rows < 2 || shape.columnGroups % size !== 0) return 0;
  return size;
}

function checkShape(ctx: GpuContext, shape: MatvecShape, k: number): void {
  const { columnGroups, kSlices, xSubgroup } = shape;
  const pow2 = (v: number): boolean => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;
  const invocations = columnGroups * kSlices;
  if (
    !pow2(kSlices) ||
    !Number.isInteger(columnGroups) ||
    columnGroups < 1 ||
    invocations > ctx.limits.maxComputeInvocationsPerWorkgroup
  ) {
    throw new KernelShapeError(
      'linear',
      `matvecShape ${columnGroups}x${kSlices}: kSlices must be a power of two and columnGroups * kSlices at most ${ctx.limits.maxComputeInvocationsPerWorkgroup}`,
    );
  }
  if (
    xSubgroup > 0 &&
    (kSlices !== 1 ||
      k % 4 !== 0 ||
      !ctx.features.subgroups ||
      xSubgroup !== ctx.subgroupSize ||
      columnGroups % xSubgroup !== 0)
  ) {
    throw new KernelShapeError(
      'linear',
      `matvecShape.xSubgroup ${xSubgroup} needs the subgroups feature with that fixed size (${String(ctx.subgroupSize)}), kSlices 1, K % 4 == 0 (K = ${k}) and columnGroups a multiple of it`,
    );
  }
}

/** Params of one weight part's dispatch over rows [row0, row0 + rows). */
function partParams(w: GpuMatrix, part: GpuMatrixPart, row0: number, rows: number) {
  return {
    k: w.cols,
    padded_cols4: part.paddedCols / 4,
    cols: part.cols,
    col0: part.colStart,
    out_stride: w.rows,
    row0,
    rows,
  };
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
  if (a.f16Native && !ctx.features.shaderF16) {
    throw new KernelShapeError(name, 'f16Native needs the shader-f16 feature, which this device lacks');
  }
  const variantFor = (nativeF16: boolean): [LinearVariant, string] => {
    const v: LinearVariant = {
      weights: storageFormat(w.dtype, a.f16Native ?? nativeF16),
      bias: a.bias !== undefined,
      residual: a.residual !== undefined,
    };
    return [v, `${v.weights.tag}${v.bias ? '+bias' : ''}${v.residual ? '+residual' : ''}`];
  };
  const buffers = (weights: GPUBuffer) => ({
    x: a.x,
    w: weights,
    out: a.out,
    bias: a.bias,
    residual: a.residual,
  });
  const path = a.path ?? (m <= MATVEC_MAX_ROWS || ctx.isCpuAdapter ? 'matvec' : 'matmul');
  if (path === 'matmul') {
    const [variant, key] = variantFor(ctx.features.shaderF16);
    const kernel = kernelSource('matmul', key, () => matmulKernel(variant));
    for (const part of w.parts) {
      const cols4 = part.paddedCols / 4;
      const params = partParams(w, part, 0, m);
      const groups: [number, number] = [
        Math.ceil(cols4 / (MATMUL_TILE_COLS / 4)),
        Math.ceil(m / MATMUL_TILE_ROWS),
      ];
      rec.dispatchKernel(kernel, params, buffers(part.buffer), groups);
    }
    return;
  }
  const baseShape = a.matvecShape ?? matvecShape(ctx.isCpuAdapter);
  if (a.matvecShape) checkShape(ctx, a.matvecShape, w.cols);
  for (let row0 = 0; row0 < m; row0 += MATVEC_MAX_ROWS) {
    const rows = Math.min(MATVEC_MAX_ROWS, m - row0);
    const xSubgroup = subgroupXLoads(ctx, baseShape, w.cols, rows, a.matvecShape);
    // With shared x loads 2 rows run as 4: the shuffles of a small loop body get unrolled into a
    // form that is 3x slower on lavapipe than the 4-row kernel.
    const compiledRows = xSubgroup > 0 ? Math.max(4, matvecRows(rows)) : matvecRows(rows);
    const shape = { ...baseShape, xSubgroup };
    // f16 on a CPU adapter: unpacking u32 pairs is 2x cheaper for one row, native f16 1.5x
    // cheaper for 4-8 rows with shared x loads (lavapipe, 4096x4096, CPU time).
    const [variant, key] = variantFor(ctx.features.shaderF16 && (!ctx.isCpuAdapter || xSubgroup > 0));
    const kernel = kernelSource(
      'matvec',
      `${key}/rows${compiledRows}/${shape.columnGroups}x${shape.kSlices}/sg${shape.xSubgroup}`,
      () => matvecKernel(variant, compiledRows, shape),
    );
    for (const part of w.parts) {
      rec.dispatchKernel(kernel, partParams(w, part, row0, rows), buffers(part.buffer), [
        Math.ceil(part.paddedCols / 4 / shape.columnGroups),
        1,
      ]);
    }
  }
}
