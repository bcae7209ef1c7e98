import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';
import { signedAbsMax } from './q4-0.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f } = rounding;

/**
 * Q5_0: 32 values as 5-bit q, value = (q - 16) * d, d = signed absmax / -16 (22 bytes: d,
 * qh as a little-endian u32 holding bit 4 of value j at bit j, qs[16] with the low nibbles as Q4_0).
 */
export const q5_0: BlockFormat = {
  name: 'q5_0',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at);
    const qh = readU32(src, at + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[at + 6 + j]!;
      out[outAt + j] = (((q & 0xf) | (((qh >>> j) << 4) & 0x10)) - 16) * d;
      out[outAt + j + 16] = (((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
    }
  },
  encodeBlock(src, at, out, outAt) {
    const max = signedAbsMax(src, at, 32);
    const d = f(max / -16);
    const id = d !== 0 ? f(1 / d) : 0;
    writeHalf(out, outAt, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, Math.trunc(f(f(src[at + j]! * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(f(f(src[at + j + 16]! * id) + 16.5)));
      out[outAt + 6 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    writeU32(out, outAt + 2, qh);
  },
};

export function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

export function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}
