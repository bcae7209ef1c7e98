/**
 * ggml's quantizers compute in f32 (x86-64 SSE, no FMA contraction); JavaScript computes in f64.
 * Every f32 operation is therefore written `f(a op b)`: for +, -, *, / and sqrt of f32 operands,
 * rounding the f64 result to f32 gives the correctly rounded f32 result, so the codecs match
 * ggml bit for bit.
 */
export const f = Math.fround;

/** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below it quantizes to zeros. */
export const GROUP_MAX_EPS = f(1e-15);

const scratch = new Float32Array(1);
const scratchBits = new Int32Array(scratch.buffer);

/**
 * ggml's nearest_int: adds 1.5 * 2^23 in f32 and reads the low mantissa bits, which rounds half
 * to even for |v| <= 2^22 - 1. Outside that range ggml asserts in debug builds and returns the
 * same bit pattern in release builds; the slow path reproduces it.
 */
export function nearestInt(v: number): number {
  if (Math.abs(v) <= 4194303) return f(v + 12582912) - 12582912;
  scratch[0] = v + 12582912;
  return (scratchBits[0]! & 0x007fffff) - 0x00400000;
}

/** C's roundf: halfway cases away from zero (what quantize_row_q8_0_ref uses). */
export function roundHalfAwayFromZero(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}
