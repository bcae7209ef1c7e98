import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';
import { makeQxQuants } from './k-quant-search.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f, GROUP_MAX_EPS, nearestInt } = rounding;

/**
 * Q6_K: 256 values in sixteen groups of 16, value = d * scale * (q - 32) with 6-bit q and int8
 * scales (210 bytes: ql[128] low nibbles, qh[64] high 2-bit pairs, scales[16], d). Per 128
 * values: ql[l] holds elements l / l + 64 and ql[l + 32] elements l + 32 / l + 96 (low / high
 * nibble); qh[l] holds the high bits of l, l + 32, l + 64, l + 96 at bits 0, 2, 4, 6.
 */
export const q6_k: BlockFormat = {
  name: 'q6_k',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at + 208);
    for (let n = 0; n < 2; n++) {
      const ql = at + 64 * n;
      const qh = at + 128 + 32 * n;
      const sc = at + 192 + 8 * n;
      const y = outAt + 128 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = f(d * int8(src[sc + is]!)) * q1;
        out[y + l + 32] = f(d * int8(src[sc + is + 2]!)) * q2;
        out[y + l + 64] = f(d * int8(src[sc + is + 4]!)) * q3;
        out[y + l + 96] = f(d * int8(src[sc + is + 6]!)) * q4;
      }
    }
  },
  encodeBlock(src, at, out, outAt) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, at + 16 * ib, levels, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    // The output block starts zeroed: an all-small block stays all zeros, d included.
    if (maxAbsScale < GROUP_MAX_EPS) return;
    const iscale = f(-128 / maxScale);
    const d = writeHalf(out, outAt + 208, f(1 / iscale));
    for (let ib = 0; ib < 16; ib++) {
      out[outAt + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]!))) & 0xff;
    }
    for (let j = 0; j < 16; j++) {
      const dj = f(d * int8(out[outAt + 192 + j]!));
      if (dj === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(src[at + 16 * j + ii]! / dj));
        levels[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let j = 0; j < 256; j += 128) {
      const ql = outAt + j / 2;
      const qh = outAt + 128 + j / 4;
      for (let l = 0; l < 32; l++) {
        const l0 = levels[j + l]!;
        const l1 = levels[j + l + 32]!;
        const l2 = levels[j + l + 64]!;
        const l3 = levels[j + l + 96]!;
        out[ql + l] = (l0 & 0xf) | ((l2 & 0xf) << 4);
        out[ql + l + 32] = (l1 & 0xf) | ((l3 & 0xf) << 4);
        out[qh + l] = (l0 >> 4) | ((l1 >> 4) << 2) | ((l2 >> 4) << 4) | ((l3 >> 4) << 6);
      }
    }
  },
};

const levels = new Uint8Array(256);
const scales = new Float32Array(16);

function int8(byte: number): number {
  return (byte << 24) >> 24;
}
