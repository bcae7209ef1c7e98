/**
 * int8 KV cache math: each (token, KV head) row of headDim values is stored as int8 with one f16
 * scale, symmetric (no zero point). Every step is exact in f32 arithmetic (products of at most 19
 * significant bits, comparisons, bit operations), so the GPU kernels that quantize and dequantize
 * produce the same bits as these functions: a CPU runner and a GPU runner hold the same cache.
 */

/** Largest magnitude of a quantized value (symmetric: -127..127, -128 unused). */
export const KV_I8_MAX = 127;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
// 1/127 rounded to f32: the scale is absmax times this (a product, correctly rounded everywhere).
const INV_MAX = Math.fround(1 / KV_I8_MAX);
// Smallest normal f16 (2^-14) and the largest f16: scales stay normal f16 values, 11 significant bits.
const MIN_SCALE = 2 ** -14;
const MAX_SCALE = 65504;

/**
 * The scale of a row whose largest magnitude is `absmax`: absmax / 127 (as absmax times f32(1/127)),
 * rounded to 11 significant bits (half away from zero on the f32 bits) and clamped to the normal
 * f16 range, so it is exactly an f16 value.
 */
export function kvI8Scale(absmax: number): number {
  f32[0] = Math.fround(Math.fround(absmax) * INV_MAX);
  u32[0] = (u32[0]! + 0x1000) & 0xffffe000;
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, f32[0]));
}

/**
 * Quantizes one row: writes round(x / scale) (the integer nearest the exact quotient, ties to
 * even), clamped to [-127, 127], into `q` and returns the scale. NaN quantizes to 0.
 */
export function quantizeKvI8Row(x: ArrayLike<number>, q: Int8Array): number {
  let absmax = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > absmax) absmax = a;
  }
  const s = kvI8Scale(absmax);
  for (let i = 0; i < x.length; i++) {
    const v = Math.fround(x[i]!);
    if (Number.isNaN(v)) {
      q[i] = 0;
      continue;
    }
    // (n +- 0.5) * s is exact in f64 (and in f32), so these comparisons decide the rounding exactly.
    let n = Math.round(v / s);
    if (v > (n + 0.5) * s || (v === (n + 0.5) * s && (n + 1) % 2 === 0)) n += 1;
    else if (v < (n - 0.5) * s || (v === (n - 0.5) * s && (n - 1) % 2 === 0)) n -= 1;
    q[i] = Math.max(-KV_I8_MAX, Math.min(KV_I8_MAX, n));
  }
  return s;
}

/** The values a quantized row stands for: q * scale (exact in f32). */
export function dequantizeKvI8Row(q: Int8Array, scale: number, out: Float32Array | number[], at = 0): void {
  for (let i = 0; i < q.length; i++) out[at + i] = q[i]! * scale;
}

/**
 * Rows of `headDim` values as an i8 pool holds them: each row quantized and dequantized (what a
 * CPU runner keeps so that it reads what the GPU pool does).
 */
export function roundTripKvI8(x: Float32Array, headDim: number): Float32Array {
  const out = new Float32Array(x.length);
  const q = new Int8Array(headDim);
  for (let at = 0; at + headDim <= x.length; at += headDim) {
    const s = quantizeKvI8Row(x.subarray(at, at + headDim), q);
    dequantizeKvI8Row(q, s, out, at);
  }
  return out;
}
