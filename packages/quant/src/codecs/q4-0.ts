import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f } = rounding;

/**
 * Q4_0: 32 values as 4-bit q, value = (q - 8) * d (18 bytes: d, qs[16]; byte j holds value j in
 * its low nibble and value j + 16 in its high nibble). d = the signed value of largest magnitude
 * divided by -8, so that value maps to level 0 exactly.
 */
export const q4_0: BlockFormat = {
  name: 'q4_0',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at);
    for (let j = 0; j < 16; j++) {
      const q = src[at + 2 + j]!;
      out[outAt + j] = ((q & 0xf) - 8) * d;
      out[outAt + j + 16] = ((q >> 4) - 8) * d;
    }
  },
  encodeBlock(src, at, out, outAt) {
    const max = signedAbsMax(src, at, 32);
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    writeHalf(out, outAt, d);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(src[at + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(src[at + j + 16]! * id) + 8.5)));
      out[outAt + 2 + j] = q0 | (q1 << 4);
    }
  },
};

/** The first value of largest magnitude, with its sign (Q4_0's and Q5_0's scale source). */
export function signedAbsMax(src: Float32Array, at: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = src[at + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}
