import { quantizeKvI8Row } from './kv-i8.js';
import { LlmError } from './llm-error.js';

/** Rows quantized to int8 (W8A8 weights and activations). */
export interface I8Rows {
  /** [rows, cols] int8 values. */
  readonly q: Int8Array;
  /** One per row; each an exact f16 value (kvI8Scale). */
  readonly scales: Float32Array;
}

/**
 * Rows of `values` ([rows, cols], row-major) as W8A8 quantizes them: each value times its
 * column's factor in f32 (`columnFactors`: a weight's SmoothQuant factors, or an activation's
 * inverse factors), then the symmetric int8 row quantization of quantizeKvI8Row. The GPU's
 * activation quantization does the same f32 arithmetic, so the two agree bit for bit.
 */
export function quantizeRowsI8(values: Float32Array, rows: number, cols: number, columnFactors?: Float32Array): I8Rows {
  if (values.length !== rows * cols || (columnFactors && columnFactors.length !== cols)) {
    throw new LlmError('invalid_argument', `quantizeRowsI8: ${values.length} values and ${columnFactors?.length ?? 'no'} column factors for ${rows}x${cols}`);
  }
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  const row = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c]!;
      row[c] = columnFactors ? Math.fround(v * columnFactors[c]!) : v;
    }
    scales[r] = quantizeKvI8Row(row, q.subarray(r * cols, (r + 1) * cols));
  }
  return { q, scales };
}

/** SmoothQuant's migration strength: half of the activations' range moves into the weights. */
export const SMOOTHQUANT_DEFAULT_ALPHA = 0.5;

/**
 * SmoothQuant's per-channel factors s_j = max|X_j|^alpha / max|W_j|^(1 - alpha) for one linear
 * input: `activationAbsMax` over calibration tokens and `weightAbsMax` over the rows of every
 * weight that reads the input, one per input feature. The weights are multiplied by s and the
 * activations divided by it, which leaves the product unchanged and evens out the channels'
 * ranges, so per-token int8 activations lose less. A channel that is zero on either side keeps 1.
 */
export function smoothQuantFactors(
  activationAbsMax: Float32Array,
  weightAbsMax: Float32Array,
  alpha = SMOOTHQUANT_DEFAULT_ALPHA,
): Float32Array {
  if (activationAbsMax.length !== weightAbsMax.length) {
    throw new LlmError('invalid_argument', `smoothQuantFactors: ${activationAbsMax.length} activation and ${weightAbsMax.length} weight maxima`);
  }
  if (!(alpha >= 0 && alpha <= 1)) throw new LlmError('invalid_argument', `smoothQuantFactors: alpha must be in [0, 1], got ${alpha}`);
  return activationAbsMax.map((a, j) => {
    const w = weightAbsMax[j]!;
    if (!(a > 0) || !(w > 0) || !Number.isFinite(a) || !Number.isFinite(w)) return 1;
    const s = a ** alpha / w ** (1 - alpha);
    return Number.isFinite(s) && s > 0 ? s : 1;
  });
}

/** The inverse factors, rounded to f32: what activations are multiplied by before quantizing. */
export function inverseFactors(factors: Float32Array): Float32Array {
  return factors.map((s) => Math.fround(1 / s));
}

/** Values per scale of `quantizeGroupsI8`: Q4_0's group, llama.cpp's Q8_0 activation block. */
export const I8_GROUP = 32;

/** Activations quantized per 32-value group: q, one f16-exact scale and the sum of q per group. */
export interface I8Groups {
  q: Int8Array;
  scales: Float32Array;
  sums: Int32Array;
}

/**
 * Quantizes rows of `cols` values (cols a multiple of 32) to int8 per group of 32, each group with
 * its own symmetric scale (the int8 KV row's math: kvI8Scale of the group's largest magnitude,
 * ties to even) and the sum of its integers, as llama.cpp quantizes activations for its integer
 * dot products. The GPU's quantization kernel gives the same bits.
 */
export function quantizeGroupsI8(values: Float32Array, rows: number, cols: number): I8Groups {
  if (values.length !== rows * cols || cols % I8_GROUP !== 0) {
    throw new LlmError('invalid_argument', `quantizeGroupsI8: ${values.length} values for ${rows}x${cols} (cols a multiple of ${I8_GROUP})`);
  }
  const groups = (rows * cols) / I8_GROUP;
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(groups);
  const sums = new Int32Array(groups);
  for (let g = 0; g < groups; g++) {
    const from = g * I8_GROUP;
    scales[g] = quantizeKvI8Row(values.subarray(from, from + I8_GROUP), q.subarray(from, from + I8_GROUP));
    let sum = 0;
    for (let i = from; i < from + I8_GROUP; i++) sum += q[i]!;
    sums[g] = sum;
  }
  return { q, scales, sums };
}
