import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';
import { makeQkx2Quants } from './k-quant-search.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f, nearestInt } = rounding;

/**
 * Q2_K: 256 values in sixteen groups of 16, value = d * scale * q - dmin * min with 2-bit q and
 * 4-bit scale / min per group (84 bytes: scales[16] (scale low nibble, min high nibble), qs[64], d,
 * dmin). Per 128 values, qs[l] holds elements l, l + 32, l + 64, l + 96 at bits 0, 2, 4, 6.
 */
export const q2_k: BlockFormat = {
  name: 'q2_k',
  decodeBlock(src, at, out, outAt) {
    const d = readHalf(src, at + 80);
    const dmin = readHalf(src, at + 82);
    let y = outAt;
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = at + 16 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const sc = src[at + is++]!;
          const dl = f(d * (sc & 0xf));
          const ml = f(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) out[y++] = f(dl * ((src[q + half + l]! >> shift) & 3)) - ml;
        }
      }
    }
  },
  encodeBlock(src, at, out, outAt) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[at + 16 * j + l]!);
      scales[j] = makeQkx2Quants(
        16,
        3,
        src,
        at + 16 * j,
        weights,
        levels,
        16 * j,
        minOut,
        aux,
        f(-0.5),
        f(0.1),
        15,
        true,
      );
      mins[j] = minOut[0]!;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    if (maxScale > 0) {
      const iscale = f(15 / maxScale);
      for (let j = 0; j < 16; j++) out[outAt + j] = nearestInt(f(iscale * scales[j]!)) & 0xff;
      writeHalf(out, outAt + 80, f(maxScale / 15));
    }
    if (maxMin > 0) {
      const iscale = f(15 / maxMin);
      for (let j = 0; j < 16; j++) out[outAt + j]! |= (nearestInt(f(iscale * mins[j]!)) << 4) & 0xff;
      writeHalf(out, outAt + 82, f(maxMin / 15));
    }
    const d = readHalf(out, outAt + 80);
    const dmin = readHalf(out, outAt + 82);
    for (let j = 0; j < 16; j++) {
      const dj = f(d * (out[outAt + j]! & 0xf));
      if (dj === 0) continue;
      const dm = f(dmin * (out[outAt + j]! >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(f(src[at + 16 * j + ii]! + dm) / dj));
        levels[16 * j + ii] = Math.max(0, Math.min(3, l));
      }
    }
    for (let j = 0; j < 256; j += 128) {
      const q = outAt + 16 + j / 4;
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

const levels = new Uint8Array(256);
const aux = new Uint8Array(16);
const weights = new Float32Array(16);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const minOut = new Float32Array(1);
