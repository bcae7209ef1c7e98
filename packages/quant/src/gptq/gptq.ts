import { GptqError } from './gptq-error.js';
import type { BlockDtype } from '../dtype-sets.js';
import { gptqGrid } from './gptq-grid.js';

// GPTQ (Frantar et al., 2022), as IST-DASLab's reference `fasterquant` computes it: the columns of
// W are quantized one at a time, and each column's error, weighted by the inverse Hessian, is
// taken out of the columns not yet quantized, lazily in batches of columns.

export interface GptqOptions {
  /** The GGUF block type to write (`gptqGrid` lists them). */
  readonly type: BlockDtype;
  /**
   * Columns whose block scales are chosen together, when the quantizer reaches the group's first
   * column, from the weights as updated by then (the reference's `groupsize`): a multiple of the
   * type's block (32, or 256 for K types); the default is one block. 0 chooses every scale from
   * the original weights before any column is quantized.
   */
  readonly groupSize?: number;
  /** Fraction of H's mean diagonal added to its diagonal before inverting it (the reference's `percdamp`). */
  readonly dampening?: number;
  /** Columns per lazy batch: errors reach the later batches once per batch (the reference's `blocksize`). */
  readonly batchColumns?: number;
}

/** The factor of a Hessian that GPTQ uses, reusable by every matrix that reads the same inputs. */
export interface GptqHessianFactor {
  readonly cols: number;
  /** U, upper triangular [cols, cols] row-major, with Uᵀ U = (H + λ I)⁻¹. */
  readonly upper: Float64Array;
  /** Columns whose input was always zero: their weights are quantized as zero. */
  readonly dead: Uint8Array;
}

export const GPTQ_DEFAULT_DAMPENING = 0.01;
export const GPTQ_DEFAULT_BATCH_COLUMNS = 128;

/**
 * Prepares H (as `HessianAccumulator.hessian` returns it) for GPTQ: dead columns get a unit
 * diagonal, λ = `dampening` × mean(diag H) is added to the diagonal, and U = chol((H + λI)⁻¹)ᵀ
 * is computed in f64 (one Cholesky factorization H = V Vᵀ with V upper triangular, then U = V⁻¹).
 */
export function gptqHessianFactor(
  hessian: Float64Array,
  cols: number,
  dampening: number = GPTQ_DEFAULT_DAMPENING,
): GptqHessianFactor {
  if (hessian.length !== cols * cols) {
    throw new GptqError('invalid_argument', `a Hessian of ${cols} columns has ${cols * cols} values, got ${hessian.length}`);
  }
  if (!(dampening >= 0) || !Number.isFinite(dampening)) {
    throw new GptqError('invalid_argument', `the dampening must be a finite number >= 0, got ${dampening}`);
  }
  const n = cols;
  const h = Float64Array.from(hessian);
  const dead = new Uint8Array(n);
  let diagonal = 0;
  for (let i = 0; i < n; i++) {
    const d = h[i * n + i]!;
    if (!Number.isFinite(d)) throw new GptqError('invalid_argument', `the Hessian has a non-finite diagonal value at column ${i}`);
    if (d === 0) {
      dead[i] = 1;
      h[i * n + i] = 1;
    }
    diagonal += h[i * n + i]!;
  }
  const lambda = (dampening * diagonal) / n;
  for (let i = 0; i < n; i++) h[i * n + i] = h[i * n + i]! + lambda;

  // H = V Vᵀ, V upper triangular: Cholesky run from the last column back.
  const v = new Float64Array(n * n);
  for (let j = n - 1; j >= 0; j--) {
    const rj = j * n;
    let s = h[rj + j]!;
    for (let k = j + 1; k < n; k++) s -= v[rj + k]! * v[rj + k]!;
    if (!(s > 0)) {
      throw new GptqError(
        'invalid_argument',
        `the Hessian is not positive definite at column ${j}; raise the dampening (now ${dampening}) or calibrate on more tokens`,
      );
    }
    const d = Math.sqrt(s);
    v[rj + j] = d;
    for (let i = 0; i < j; i++) {
      const ri = i * n;
      let t = h[ri + j]!;
      for (let k = j + 1; k < n; k++) t -= v[ri + k]! * v[rj + k]!;
      v[ri + j] = t / d;
    }
  }
  // U = V⁻¹, row by row from the last: row i of U is (eᵢ - Σ_{k>i} V[i][k] U[k]) / V[i][i].
  const u = new Float64Array(n * n);
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * n;
    for (let k = i + 1; k < n; k++) {
      const c = v[ri + k]!;
      if (c === 0) continue;
      const rk = k * n;
      for (let j = k; j < n; j++) u[ri + j] = u[ri + j]! - c * u[rk + j]!;
    }
    const inv = 1 / v[ri + i]!;
    u[ri + i] = 1;
    for (let j = i; j < n; j++) u[ri + j] = u[ri + j]! * inv;
  }
  return { cols: n, upper: u, dead };
}

/**
 * Quantizes `weights` ([rows, cols] row-major, rows independent, each row's input the `cols`
 * columns H describes) to GGUF blocks of `options.type` with GPTQ, and returns the blocks: an
 * ordinary tensor of that type, rows one after another. With H = I (no correlation between
 * inputs) no error is fed forward and the bytes are the type's round-to-nearest codec's.
 */
export function gptqQuantize(
  weights: Float32Array,
  rows: number,
  cols: number,
  hessian: Float64Array | GptqHessianFactor,
  options: GptqOptions,
): Uint8Array {
  const grid = gptqGrid(options.type);
  const bs = grid.blockSize;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1 || weights.length !== rows * cols) {
    throw new GptqError('invalid_argument', `weights of ${weights.length} values are not [${rows}, ${cols}]`);
  }
  if (cols % bs !== 0) {
    throw new GptqError('invalid_argument', `rows of ${cols} values are not whole ${options.type} blocks of ${bs}`);
  }
  const groupSize = options.groupSize ?? bs;
  if (!Number.isInteger(groupSize) || groupSize < 0 || groupSize % bs !== 0) {
    throw new GptqError(
      'invalid_argument',
      `the group size must be 0 or a multiple of ${options.type}'s block of ${bs} values, got ${groupSize}`,
    );
  }
  const batch = options.batchColumns ?? GPTQ_DEFAULT_BATCH_COLUMNS;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new GptqError('invalid_argument', `the batch of columns must be a positive whole number, got ${batch}`);
  }
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) {
      throw new GptqError('invalid_argument', `weight ${i} (row ${Math.floor(i / cols)}) is ${weights[i]}; GPTQ needs finite weights`);
    }
  }
  const factor =
    hessian instanceof Float64Array ? gptqHessianFactor(hessian, cols, options.dampening) : hessian;
  if (factor.cols !== cols) {
    throw new GptqError('invalid_argument', `the Hessian describes ${factor.cols} input columns, the weights have ${cols}`);
  }
  const { upper: u, dead } = factor;
  const blocksPerRow = cols / bs;
  const rowBytes = blocksPerRow * grid.bytesPerBlock;
  const out = new Uint8Array(rows * rowBytes);
  // Four rows at a time: every row reads all of U, which for a wide layer (2048 columns: 32 MiB)
  // does not fit a cache; each element read then serves four rows. The rows stay independent and
  // each one's arithmetic is what it would be alone. Rows past the last are zeros with no error.
  const R = 4;
  const rowParams = blocksPerRow * grid.paramCount;
  const params = new Float32Array(R * rowParams);
  const w = new Float64Array(R * cols);
  const scratch = new Float32Array(cols);
  const err = new Float64Array(R * batch);
  const e = new Float64Array(R);
  const group = groupSize === 0 ? cols : groupSize;

  const chooseScales = (r: number, row: number, from: number, to: number): void => {
    for (let c = from; c < to; c++) scratch[c] = w[r * cols + c]!;
    for (let b = from / bs; b < to / bs; b++) {
      grid.setScale(scratch, b * bs, out, row * rowBytes + b * grid.bytesPerBlock, params, r * rowParams + b * grid.paramCount);
    }
  };

  for (let r0 = 0; r0 < rows; r0 += R) {
    const count = Math.min(R, rows - r0);
    w.fill(0);
    for (let r = 0; r < count; r++) {
      for (let c = 0; c < cols; c++) w[r * cols + c] = dead[c] ? 0 : weights[(r0 + r) * cols + c]!;
      if (groupSize === 0) chooseScales(r, r0 + r, 0, cols);
    }
    for (let b1 = 0; b1 < cols; b1 += batch) {
      const b2 = Math.min(b1 + batch, cols);
      for (let i = b1; i < b2; i++) {
        const ri = i * cols;
        const block = Math.floor(i / bs);
        e.fill(0);
        for (let r = 0; r < count; r++) {
          if (groupSize !== 0 && i % group === 0) chooseScales(r, r0 + r, i, Math.min(i + group, cols));
          const x = w[r * cols + i]!;
          const outAt = (r0 + r) * rowBytes + block * grid.bytesPerBlock;
          const q = grid.quantizeValue(x, i - block * bs, out, outAt, params, r * rowParams + block * grid.paramCount);
          e[r] = (x - q) / u[ri + i]!;
          err[r * batch + i - b1] = e[r]!;
        }
        updateRows(w, cols, e, u, ri, i + 1, b2);
      }
      if (b2 === cols) continue;
      for (let i = b1; i < b2; i++) {
        for (let r = 0; r < R; r++) e[r] = err[r * batch + i - b1]!;
        updateRows(w, cols, e, u, i * cols, b2, cols);
      }
    }
  }
  return out;
}

/** w[r][j] -= e[r] * u[at + j] for the four rows r and j in [from, to). */
function updateRows(w: Float64Array, cols: number, e: Float64Array, u: Float64Array, at: number, from: number, to: number): void {
  const e0 = e[0]!;
  const e1 = e[1]!;
  const e2 = e[2]!;
  const e3 = e[3]!;
  if (e0 === 0 && e1 === 0 && e2 === 0 && e3 === 0) return;
  for (let j = from; j < to; j++) {
    const uj = u[at + j]!;
    w[j] = w[j]! - e0 * uj;
    w[cols + j] = w[cols + j]! - e1 * uj;
    w[2 * cols + j] = w[2 * cols + j]! - e2 * uj;
    w[3 * cols + j] = w[3 * cols + j]! - e3 * uj;
  }
}
