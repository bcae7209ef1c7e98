import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';
import { minMax } from './q4-1.js';
import { readU32, writeU32 } from './q5-0.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f } = rounding;

/** Q5_1: 32 values as 5-bit q, value = q * d + m, d = (max - min) / 31 (24 bytes: d, m, qh, qs[16]). */
export const q5_1: BlockFormat = {
  name: 'q5_1',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at);
    const m = readHalf(src, at + 2);
    const qh = readU32(src, at + 4);
    for (let j = 0; j < 16; j++) {
      const q = src[at + 8 + j]!;
      out[outAt + j] = f(((q & 0xf) | (((qh >>> j) << 4) & 0x10)) * d) + m;
      out[outAt + j + 16] = f(((q >> 4) | ((qh >>> (j + 12)) & 0x10)) * d) + m;
    }
  },
  encodeBlock(src, at, out, outAt) {
    const [min, max] = minMax(src, at, 32);
    const d = f(f(max - min) / 31);
    const id = d !== 0 ? f(1 / d) : 0;
    writeHalf(out, outAt, d);
    writeHalf(out, outAt + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // No clamp: ggml's reference has none, and (max - min) * id + 0.5 stays below 32.
      const q0 = Math.trunc(f(f(f(src[at + j]! - min) * id) + 0.5)) & 0xff;
      const q1 = Math.trunc(f(f(f(src[at + j + 16]! - min) * id) + 0.5)) & 0xff;
      out[outAt + 8 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    writeU32(out, outAt + 4, qh);
  },
};
