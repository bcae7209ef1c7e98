import { LlmError } from '../llm-error.js';
import { f16DecodeTable, f32ToF16Bits } from '../half-float.js';

// Blocks are byte streams whose sizes (18, 22, 34, 210 bytes, ...) break 2-byte alignment, so
// halves are assembled from their two little-endian bytes instead of read through a Uint16Array.
const table = f16DecodeTable();

/** The f32 value of the little-endian half at `bytes[at]`. */
export function readHalf(bytes: Uint8Array, at: number): number {
  return table[bytes[at]! | (bytes[at + 1]! << 8)]!;
}

/**
 * Stores `value` as a little-endian half (round to nearest even, as GGML_FP32_TO_FP16) and returns
 * the value stored. ggml would store infinity for a scale past the half range, which decodes to
 * infinities and NaNs; refusing it is the only behaviour a caller can act on.
 */
export function writeHalf(bytes: Uint8Array, at: number, value: number): number {
  const bits = f32ToF16Bits(value);
  if ((bits & 0x7c00) === 0x7c00) {
    throw new LlmError(
      'invalid_argument',
      `a block scale of ${value} does not fit a half (at most 65504); scale the values down before quantizing`,
    );
  }
  bytes[at] = bits & 0xff;
  bytes[at + 1] = bits >>> 8;
  return table[bits]!;
}
