import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f } = rounding;

/**
 * Q4_1: 32 values as 4-bit q, value = q * d + m with d = (max - min) / 15 and m = min (20 bytes:
 * d, m, qs[16]; nibbles as in Q4_0).
 */
export const q4_1: BlockFormat = {
  name: 'q4_1',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at);
    const m = readHalf(src, at + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[at + 4 + j]!;
      out[outAt + j] = f((q & 0xf) * d) + m;
      out[outAt + j + 16] = f((q >> 4) * d) + m;
    }
  },
  encodeBlock(src, at, out, outAt) {
    const [min, max] = minMax(src, at, 32);
    const d = f(f(max - min) / 15);
    const id = d !== 0 ? f(1 / d) : 0;
    writeHalf(out, outAt, d);
    writeHalf(out, outAt + 2, min);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(f(src[at + j]! - min) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(f(f(f(src[at + j + 16]! - min) * id) + 0.5)));
      out[outAt + 4 + j] = q0 | (q1 << 4);
    }
  },
};

/** [min, max] of `n` values, as the Q4_1 and Q5_1 reference quantizers scan them. */
export function minMax(src: Float32Array, at: number, n: number): [min: number, max: number] {
  let min = f(3.4028234663852886e38);
  let max = -min;
  for (let j = 0; j < n; j++) {
    const v = src[at + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}
