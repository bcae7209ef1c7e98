import { absMax, quantizeSymmetric, symmetricScale } from './kv-i8.js';

/**
 * int4 KV cache math: each (token, KV head) row of headDim values (a power of two, 8 to 256) is
 * cut into G groups of headDim / G consecutive values, G = max(2, headDim / 32) (groups of at most
 * 32, as GGUF's Q4_0 blocks, and an even count so that a row's f16 scales fill whole words); each
 * group is stored as 4-bit integers in -7..7 with one f16 scale, symmetric. The arithmetic is the
 * int8 cache's (kv-i8.ts) with 7 in place of 127, exact in f32, so the GPU kernels that quantize
 * and dequantize produce the same bits as these functions.
 *
 * K rows go in rotated (hadamard.ts): a few channels of K carry most of its magnitude, and a
 * group's scale follows its largest value, so 4 bits per value crush the rest; the rotation
 * spreads them. Queries are rotated to match, which leaves every score q · k as it was.
 */

/** Largest magnitude of a quantized value (symmetric: -7..7, -8 unused). */
export const KV_I4_MAX = 7;

/**
 * Scale groups per row of `headDim` values: max(2, headDim / 32), or 0 unless headDim is a power
 * of two from 8 to 256 (whole words of 8 values, and a row the GPU's Hadamard rotation holds).
 */
export function kvI4Groups(headDim: number): number {
  const powerOfTwo = Number.isInteger(headDim) && headDim >= 8 && headDim <= 256 && (headDim & (headDim - 1)) === 0;
  return powerOfTwo ? Math.max(2, headDim / 32) : 0;
}

/** The scale of a group whose largest magnitude is `absmax`: symmetricScale(absmax, 7). */
export function kvI4Scale(absmax: number): number {
  return symmetricScale(absmax, KV_I4_MAX);
}

/**
 * Quantizes one row of headDim values (kvI4Groups(headDim) > 0): writes each value's integer
 * (-7..7, nearest, ties to even; NaN to 0) into `q` and each group's scale into `scales`.
 */
export function quantizeKvI4Row(x: ArrayLike<number>, q: Int8Array, scales: Float32Array): void {
  const groups = kvI4Groups(x.length);
  if (groups === 0) throw new RangeError(`an int4 KV row needs a length that kvI4Groups accepts, got ${x.length}`);
  const size = x.length / groups;
  for (let g = 0; g < groups; g++) {
    const s = kvI4Scale(absMax(x, g * size, (g + 1) * size));
    quantizeSymmetric(x, q, s, KV_I4_MAX, g * size, (g + 1) * size);
    scales[g] = s;
  }
}

/**
 * Rows of `headDim` values as an int4 pool holds them: each row quantized and dequantized (what
 * a CPU runner keeps so that it reads what the GPU pool does).
 */
export function roundTripKvI4(x: Float32Array, headDim: number): Float32Array {
  const groups = kvI4Groups(headDim);
  if (groups === 0) throw new RangeError(`an int4 KV cache needs a head dim that kvI4Groups accepts, got ${headDim}`);
  const size = headDim / groups;
  const out = new Float32Array(x.length);
  const q = new Int8Array(headDim);
  const scales = new Float32Array(groups);
  for (let at = 0; at + headDim <= x.length; at += headDim) {
    quantizeKvI4Row(x.subarray(at, at + headDim), q, scales);
    for (let i = 0; i < headDim; i++) out[at + i] = q[i]! * scales[Math.floor(i / size)]!;
  }
  return out;
}
