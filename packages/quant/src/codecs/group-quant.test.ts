import { describe, expect, it } from 'vitest';
import { GROUP_DTYPES } from '../dtype-sets.js';
import { elementType } from '../element-types.js';
import { f32ToF16Bits } from '../half-float.js';
import { dequantize, quantize } from './block-codecs.js';
import { findGroupDtype, groupBlockBytes, groupQuantParams, readGroupLevel, roundHalfEven, writeGroupLevel } from './group-quant.js';

/** A block of `name` with scale s, zero z and the given levels, built byte by byte. */
function block(bits: number, groupSize: number, s: number, z: number, levels: readonly number[]): Uint8Array {
  const out = new Uint8Array(groupBlockBytes({ bits: bits as 2, groupSize: groupSize as 32 }));
  const h = f32ToF16Bits(s);
  out.set([h & 0xff, h >> 8, z & 0xff, z >> 8]);
  // The level bit string assembled as one big little-endian integer, independent of writeGroupLevel.
  let stream = 0n;
  levels.forEach((q, l) => (stream |= BigInt(q) << BigInt(bits * l)));
  for (let i = 4; i < out.length; i++) out[i] = Number((stream >> BigInt(8 * (i - 4))) & 0xffn);
  return out;
}

describe('group-quantized integer types', () => {
  it('size a block as 4 bytes of scale and zero plus the packed levels', () => {
    for (const name of GROUP_DTYPES) {
      const p = groupQuantParams(name);
      const t = elementType(name);
      expect([t.blockSize, t.bytesPerBlock, t.kind, t.ggmlId]).toEqual([p.groupSize, 4 + (p.groupSize * p.bits) / 8, 'quantized', undefined]);
      expect(findGroupDtype(p.bits, p.groupSize)).toBe(name);
    }
    expect(findGroupDtype(8, 128)).toBeUndefined();
    expect(findGroupDtype(4, 256)).toBeUndefined();
  });

  it('decode (q - z) * s from a hand-built 3-bit block whose levels straddle bytes', () => {
    // Levels 0..7 repeating: level 2 sits at bits 6..8, across bytes 4 and 5.
    const levels = Array.from({ length: 32 }, (_, l) => (l * 5 + 3) % 8);
    const bytes = block(3, 32, 0.25, 3, levels);
    // Hand check of the first bytes: levels 3, 0, 5 -> bits 011 000 101 -> byte 4 = 0b01000011.
    expect(bytes[4]).toBe(0b01000011);
    expect(bytes[5]! & 1).toBe(1);
    const values = dequantize('w3g32', bytes, 32);
    expect([...values.subarray(0, 4)]).toEqual([0, -0.75, 0.5, -0.25]);
    expect([...values]).toEqual(levels.map((q) => (q - 3) * 0.25));
  });

  it('decode a v1-style zero of 2^bits (stored zero - 1 plus one) below every level', () => {
    const values = dequantize('w2g32', block(2, 32, 0.5, 4, Array.from({ length: 32 }, (_, l) => l % 4)), 32);
    expect([...values.subarray(0, 4)]).toEqual([-2, -1.5, -1, -0.5]);
  });

  it('write and read back every level at every position', () => {
    for (const bits of [2, 3, 4]) {
      const out = new Uint8Array(4 + (128 * bits) / 8);
      const levels = Array.from({ length: 128 }, (_, l) => (l * 7 + (l >> 3)) % (1 << bits));
      levels.forEach((q, l) => writeGroupLevel(out, 0, bits, l, q));
      expect(levels.map((_, l) => readGroupLevel(out, 0, bits, l))).toEqual(levels);
      expect([...out]).toEqual([...block(bits, 128, 0, 0, levels)].map((b, i) => (i < 4 ? 0 : b)));
    }
  });

  it('quantize each group to levels within half a step (one at a clamp), the range holding 0', () => {
    const values = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 5)) + 0.3);
    for (const name of GROUP_DTYPES) {
      const { bits, groupSize } = groupQuantParams(name);
      const bytes = quantize(name, values);
      const back = dequantize(name, bytes, values.length);
      for (let g = 0; g < values.length / groupSize; g++) {
        const at = g * (4 + (groupSize * bits) / 8);
        const z = bytes[at + 2]! | (bytes[at + 3]! << 8);
        expect(z).toBeLessThanOrEqual((1 << bits) - 1);
        let min = 0;
        let max = 0;
        for (let l = 0; l < groupSize; l++) {
          min = Math.min(min, values[g * groupSize + l]!);
          max = Math.max(max, values[g * groupSize + l]!);
        }
        const step = (max - min) / ((1 << bits) - 1);
        for (let l = 0; l < groupSize; l++) {
          const i = g * groupSize + l;
          expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(step * 0.51);
        }
      }
    }
  });

  it('round halves to even as torch.round does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
  });
});
