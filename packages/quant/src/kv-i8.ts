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
// Smallest normal f16 (2^-14) and the largest f16: scales stay normal f16 values, 11 significant bits.
const MIN_SCALE = 2 ** -14;
const MAX_SCALE = 65504;

/**
 * The scale of values whose largest magnitude is `absmax`, quantized symmetrically to
 * -max..max: absmax / max (as absmax times f32(1 / max), a correctly rounded product), rounded to
 * 11 significant bits (half away from zero on the f32 bits) and clamped to the normal f16 range,
 * so it is exactly an f16 value. The int8 and int4 KV caches share it.
 */
export function symmetricScale(absmax: number, max: number): number {
  f32[0] = Math.fround(Math.fround(absmax) * Math.fround(1 / max));
  u32[0] = (u32[0]! + 0x1000) & 0xffffe000;
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, f32[0]));
}

/**
 * Writes round(x[i] / s) (the integer nearest the exact quotient, ties to even), clamped to
 * [-max, max], into q[i] for i in [from, to). NaN quantizes to 0.
 */
export function quantizeSymmetric(x: ArrayLike<number>, q: Int8Array, s: number, max: number, from = 0, to = x.length): void {
  for (let i = from; i < to; i++) {
    const v = Math.fround(x[i]!);
    if (Number.isNaN(v)) {
      q[i] = 0;
      continue;
    }
    // (n +- 0.5) * s is exact in f64 (and in f32), so these comparisons decide the rounding exactly.
    let n = Math.round(v / s);
    if (v > (n + 0.5) * s || (v === (n + 0.5) * s && (n + 1) % 2 === 0)) n += 1;
    else if (v < (n - 0.5) * s || (v === (n - 0.5) * s && (n - 1) % 2 === 0)) n -= 1;
    q[i] = Math.max(-max, Math.min(max, n));
  }
}

/** The largest magnitude among x[from..to). */
export function absMax(x: ArrayLike<number>, from = 0, to = x.length): number {
  let m = 0;
  for (let i = from; i < to; i++) {
    const a = Math.abs(x[i]!);
    if (a > m) m = a;
  }
  return m;
}

/** The scale of a row whose largest magnitude is `absmax`: symmetricScale(absmax, 127). */
export function kvI8Scale(absmax: number): number {
  return symmetricScale(absmax, KV_I8_MAX);
}

/**
 * Quantizes one row: writes round(x / scale) (the integer nearest the exact quotient, ties to
 * even), clamped to [-127, 127], into `q` and returns the scale. NaN quantizes to 0.
 */
export function quantizeKvI8Row(x: ArrayLike<number>, q: Int8Array): number {
  const s = kvI8Scale(absMax(x));
  quantizeSymmetric(x, q, s, KV_I8_MAX);
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
