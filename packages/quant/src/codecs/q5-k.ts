import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { decodeScaleMinBlock, encodeScaleMinGroups } from './q4-k.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f } = rounding;

/**
 * Q5_K: Q4_K with a fifth bit, value = d * scale * q - dmin * min, q in 0..31 (176 bytes: d, dmin,
 * scales[12], qh[32], qs[128]; bit 2i / 2i + 1 of qh[l] is the high bit of element l of the
 * groups in the i-th 32 bytes of qs).
 */
export const q5_k: BlockFormat = {
  name: 'q5_k',
  decodeBlock(src, at, out, outAt) {
    decodeScaleMinBlock(src, at, out, outAt, 48, 16);
  },
  encodeBlock(src, at, out, outAt) {
    const levels = encodeScaleMinGroups(src, at, out, outAt, 31, f(-0.5), 15);
    for (let n = 0, m1 = 1, m2 = 2; n < 256; n += 64, m1 <<= 2, m2 <<= 2) {
      const ql = outAt + 48 + n / 2;
      for (let j = 0; j < 32; j++) {
        let l1 = levels[n + j]!;
        if (l1 > 15) {
          l1 -= 16;
          out[outAt + 16 + j]! |= m1;
        }
        let l2 = levels[n + j + 32]!;
        if (l2 > 15) {
          l2 -= 16;
          out[outAt + 16 + j]! |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
    }
  },
};
