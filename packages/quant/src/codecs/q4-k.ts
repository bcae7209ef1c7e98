import type { BlockFormat } from './block-format.js';
import * as rounding from './float32-rounding.js';
import { readHalf, writeHalf } from './half-scale.js';
import { makeQkx2Quants } from './k-quant-search.js';
import { packScaleMinK4, scaleMinK4 } from './k-quant-scales.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f, nearestInt } = rounding;

/**
 * Q4_K: 256 values in eight groups of 32, value = d * scale * q - dmin * min with 4-bit q and
 * 6-bit per-group scale and min (144 bytes: d, dmin, scales[12] (k-quant-scales.ts), qs[128];
 * each 32 bytes of qs hold two groups, the first in the low nibbles).
 */
export const q4_k: BlockFormat = {
  name: 'q4_k',
  decodeBlock(src, at, out, outAt) {
    decodeScaleMinBlock(src, at, out, outAt, 16, -1);
  },
  encodeBlock(src, at, out, outAt) {
    const levels = encodeScaleMinGroups(src, at, out, outAt, 15, -1, 20);
    for (let j = 0; j < 256; j += 64) {
      const q = outAt + 16 + j / 2;
      for (let l = 0; l < 32; l++) out[q + l] = levels[j + l]! | (levels[j + l + 32]! << 4);
    }
  },
};

const pair = new Uint8Array(2);

/**
 * Shared by Q4_K and Q5_K (dequantize_row_q4_K / _q5_K): `qhAt` < 0 for Q4_K, else the offset of
 * Q5_K's 32 high-bit bytes, whose bits 2i and 2i + 1 belong to the groups of the i-th 32 qs bytes.
 */
export function decodeScaleMinBlock(
  src: Uint8Array,
  at: number,
  out: Float32Array,
  outAt: number,
  qsAt: number,
  qhAt: number,
): void {
  const d = readHalf(src, at);
  const dmin = readHalf(src, at + 2);
  let o = outAt;
  for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
    scaleMinK4(is, src, at + 4, pair);
    const d1 = f(d * pair[0]!);
    const m1 = f(dmin * pair[1]!);
    scaleMinK4(is + 1, src, at + 4, pair);
    const d2 = f(d * pair[0]!);
    const m2 = f(dmin * pair[1]!);
    const q = at + qsAt + j / 2;
    const u1 = 1 << is;
    const u2 = 2 << is;
    for (let l = 0; l < 32; l++) {
      const high = qhAt < 0 ? 0 : src[at + qhAt + l]! & u1 ? 16 : 0;
      out[o++] = f(d1 * ((src[q + l]! & 0xf) + high)) - m1;
    }
    for (let l = 0; l < 32; l++) {
      const high = qhAt < 0 ? 0 : src[at + qhAt + l]! & u2 ? 16 : 0;
      out[o++] = f(d2 * ((src[q + l]! >> 4) + high)) - m2;
    }
  }
}

const levels = new Uint8Array(256);
const aux = new Uint8Array(32);
const weights = new Float32Array(32);
const scales = new Float32Array(8);
const mins = new Float32Array(8);
const minOut = new Float32Array(1);

/**
 * quantize_row_q4_K_ref / _q5_K_ref up to the packing of the levels: fits each group of 32 with
 * make_qkx2_quants (weights: rms of the group plus |x|), quantizes the group scales and mins to
 * 6 bits against the largest of each, writes d, dmin and the scales, then requantizes every value
 * against its group's stored scale and min. Returns the 256 levels (0 .. nmax), reused scratch.
 */
export function encodeScaleMinGroups(
  src: Float32Array,
  at: number,
  out: Uint8Array,
  outAt: number,
  nmax: number,
  rmin: number,
  nstep: number,
): Uint8Array {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const x = at + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(src[x + l]! * src[x + l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(src[x + l]!);
    scales[j] = makeQkx2Quants(
      32,
      nmax,
      src,
      x,
      weights,
      levels,
      32 * j,
      minOut,
      aux,
      rmin,
      f(0.1),
      nstep,
      false,
    );
    mins[j] = minOut[0]!;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    // uint8_t in ggml: the cast wraps before the clamp to 63.
    const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
    packScaleMinK4(j, ls, lm, out, outAt + 4);
  }
  const d = writeHalf(out, outAt, f(maxScale / 63));
  const dmin = writeHalf(out, outAt + 2, f(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    scaleMinK4(j, out, outAt + 4, pair);
    const dj = f(d * pair[0]!);
    if (dj === 0) continue;
    const dm = f(dmin * pair[1]!);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(f(f(src[at + 32 * j + ii]! + dm) / dj));
      levels[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
  return levels;
}
