import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';
import { makeQ3Quants } from './k-quant-search.js';
import { packScaleQ3K, scaleQ3K } from './k-quant-scales.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f, nearestInt } = rounding;

/**
 * Q3_K: 256 values in sixteen groups of 16, value = d * scale * (q - 4) with 3-bit q (2 low bits
 * in qs, the third in hmask, set meaning "no -4") and 6-bit signed scales (110 bytes: hmask[32],
 * qs[64], scales[12] (k-quant-scales.ts), d). Element e's high bit is bit e / 32 of hmask[e % 32];
 * its low bits are laid out as Q2_K's.
 */
export const q3_k: BlockFormat = {
  name: 'q3_k',
  decodeBlock(src, at, out, outAt) {
    const dAll = readHalf(src, at + 108);
    let y = outAt;
    let is = 0;
    let m = 1;
    for (let n = 0; n < 2; n++) {
      const q = at + 32 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (let half = 0; half < 32; half += 16) {
          const dl = f(dAll * scaleQ3K(is++, src, at + 96));
          for (let l = 0; l < 16; l++) {
            const low = (src[q + half + l]! >> shift) & 3;
            out[y++] = dl * (low - (src[at + half + l]! & m ? 0 : 4));
          }
        }
      }
    }
  },
  encodeBlock(src, at, out, outAt) {
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, src, at + 16 * j, levels, 16 * j);
      const scale = Math.abs(scales[j]!);
      if (scale > amax) {
        amax = scale;
        maxScale = scales[j]!;
      }
    }
    if (maxScale !== 0) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        // int8_t in ggml: the cast wraps before the clamp.
        const l = (nearestInt(f(iscale * scales[j]!)) << 24) >> 24;
        packScaleQ3K(j, Math.max(-32, Math.min(31, l)) + 32, out, outAt + 96);
      }
      writeHalf(out, outAt + 108, f(1 / iscale));
    }
    const d = readHalf(out, outAt + 108);
    for (let j = 0; j < 16; j++) {
      const dj = f(d * scaleQ3K(j, out, outAt + 96));
      if (dj === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(src[at + 16 * j + ii]! / dj));
        levels[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
      }
    }
    for (let j = 0; j < 256; j++) {
      if (levels[j]! > 3) {
        out[outAt + (j % 32)]! |= 1 << (j >> 5);
        levels[j] = levels[j]! - 4;
      }
    }
    for (let j = 0; j < 256; j += 128) {
      const q = outAt + 32 + j / 4;
      for (let l = 0; l < 32; l++) {
        out[q + l] =
          levels[j + l]! |
          (levels[j + l + 32]! << 2) |
          (levels[j + l + 64]! << 4) |
          (levels[j + l + 96]! << 6);
      }
    }
  },
};

const levels = new Int8Array(256);
const scales = new Float32Array(16);
