import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f, roundHalfAwayFromZero } = rounding;

/** Q8_0: 32 values as int8 times one half scale d = absmax / 127 (34 bytes: d, qs[32]). */
export const q8_0: BlockFormat = {
  name: 'q8_0',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at);
    for (let j = 0; j < 32; j++) out[outAt + j] = ((src[at + 2 + j]! << 24) >> 24) * d;
  },
  encodeBlock(src, at, out, outAt) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[at + j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    writeHalf(out, outAt, d);
    for (let j = 0; j < 32; j++) out[outAt + 2 + j] = roundHalfAwayFromZero(f(src[at + j]! * id)) & 0xff;
  },
};
