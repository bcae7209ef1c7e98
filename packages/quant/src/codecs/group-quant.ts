import { GROUP_DTYPES, type GroupDtype } from '../dtype-sets.js';
import { LlmError } from '../llm-error.js';
import type { BlockFormat } from './block-format.js';
import { readHalf, writeHalf } from './half-scale.js';

/**
 * Group-quantized integer weights, the element type of GPTQ, AWQ and EfficientQAT checkpoints once
 * read: a row of K values is K / G groups of G, each with a scale s and an integer zero point z,
 * and value = (q - z) * s for its `bits`-bit levels q. One block per group:
 *
 *   bytes 0-1  s as a little-endian half
 *   bytes 2-3  z as a little-endian u16 (0 .. 2^bits: GPTQ's v1 checkpoints store z - 1 in bits,
 *              so z = 2^bits reads back from a stored 2^bits - 1)
 *   bytes 4-   the G levels as one little-endian bit string: level l at bits [bits * l, bits * l + bits)
 *
 * (q - z) is an integer of at most 5 bits and s a half, so (q - z) * s is exact in f32: the decoded
 * values are the checkpoint's own, whatever the precision of the arithmetic.
 */
export interface GroupQuantParams {
  readonly bits: 2 | 3 | 4;
  /** Values per group (G): 32, 64 or 128. */
  readonly groupSize: 32 | 64 | 128;
}

/** Bits and group size of a group type (`w4g128` → 4 bits, groups of 128). */
export function groupQuantParams(name: GroupDtype): GroupQuantParams {
  const match = /^w([234])g(32|64|128)$/.exec(name)!;
  return { bits: Number(match[1]) as 2 | 3 | 4, groupSize: Number(match[2]) as 32 | 64 | 128 };
}

/**
 * The group type of `bits` and `groupSize`, or undefined for a pair there is none of (bits 8, a
 * group of 256).
 */
export function findGroupDtype(bits: number, groupSize: number): GroupDtype | undefined {
  const name = `w${bits}g${groupSize}`;
  return (GROUP_DTYPES as readonly string[]).includes(name) ? (name as GroupDtype) : undefined;
}

/** Bytes of one group's block: 4 bytes of scale and zero, then its levels. */
export function groupBlockBytes(p: GroupQuantParams): number {
  return 4 + (p.groupSize * p.bits) / 8;
}

/** Level l of the block at `at` (its bit string starts at byte at + 4). */
export function readGroupLevel(src: Uint8Array, at: number, bits: number, l: number): number {
  const bit = bits * l;
  const byte = at + 4 + (bit >> 3);
  // Three bytes hold any level of up to 8 bits that starts inside the first one.
  const window = src[byte]! | ((src[byte + 1] ?? 0) << 8) | ((src[byte + 2] ?? 0) << 16);
  return (window >> (bit & 7)) & ((1 << bits) - 1);
}

/** ORs level `q` in as level l of the block at `at` (the block's bits must be clear). */
export function writeGroupLevel(out: Uint8Array, at: number, bits: number, l: number, q: number): void {
  const bit = bits * l;
  const byte = at + 4 + (bit >> 3);
  const shifted = q << (bit & 7);
  out[byte]! |= shifted & 0xff;
  if (shifted > 0xff) out[byte + 1]! |= (shifted >> 8) & 0xff;
}

/** Round half to even, as torch.round, which GPTQ and AWQ quantize with. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function groupFormat(name: GroupDtype): BlockFormat {
  const p = groupQuantParams(name);
  const { bits, groupSize } = p;
  const maxq = (1 << bits) - 1;
  return {
    name,
    decodeBlock(src, at, out, outAt) {
      const s = readHalf(src, at);
      const z = src[at + 2]! | (src[at + 3]! << 8);
      for (let l = 0; l < groupSize; l++) out[outAt + l] = (readGroupLevel(src, at, bits, l) - z) * s;
    },
    // Round to nearest over the group's range widened to hold 0, with an integer zero, as GPTQ's
    // quantizer does (the scale rounded to a half first, so that the levels fit the stored one).
    encodeBlock(src, at, out, outAt) {
      let min = 0;
      let max = 0;
      for (let l = 0; l < groupSize; l++) {
        const v = src[at + l]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      // AWQ clamps the range at 1e-5 so that a constant group keeps a usable scale.
      const s = writeHalf(out, outAt, Math.max(max - min, 1e-5) / maxq);
      if (s === 0) throw new LlmError('invalid_argument', `a ${name} group's scale underflows a half`);
      const z = Math.min(maxq, Math.max(0, roundHalfEven(-min / s)));
      out[outAt + 2] = z & 0xff;
      out[outAt + 3] = z >> 8;
      for (let l = 0; l < groupSize; l++) {
        const q = Math.min(maxq, Math.max(0, roundHalfEven(src[at + l]! / s) + z));
        writeGroupLevel(out, outAt, bits, l, q);
      }
    },
  };
}

/** One format per group type, in GROUP_DTYPES order. */
export const groupFormats: readonly BlockFormat[] = GROUP_DTYPES.map(groupFormat);
