import { dequantize, f16BitsToF32, f32ToF16Bits } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../synthetic/seeded-random.js';
import { packAwq, unpackAwq } from './awq-packing.js';
import { packGptq, unpackGptq } from './gptq-packing.js';
import { bitField, groupDtypeFor, toGroupBlocks, type UnpackedLinear } from './int-packing.js';

const hex = (v: number) => (v >>> 0).toString(16).padStart(8, '0');

/** A layer with seeded levels, zeros in [1, 2^bits) (v1 holds them) and varied half scales. */
function randomLayer(bits: 2 | 3 | 4, rows: number, cols: number, groupSize: number, seed: number, zeroFrom = 1): UnpackedLinear {
  const rand = new SeededRandom(seed);
  const groups = Math.ceil(cols / groupSize);
  const maxq = (1 << bits) - 1;
  return {
    bits,
    groupSize,
    rows,
    cols,
    levels: Uint8Array.from({ length: rows * cols }, () => Math.floor(rand.nextFloat() * (maxq + 1))),
    zeros: Uint16Array.from({ length: groups * rows }, () => zeroFrom + Math.floor(rand.nextFloat() * (maxq + 1 - zeroFrom))),
    scales: Uint16Array.from({ length: groups * rows }, () => f32ToF16Bits((rand.nextFloat() - 0.5) / 8)),
  };
}

describe('GPTQ packing', () => {
  it('packs a hand-built 4-bit layer: levels along K in a column, zeros along N, v1 less one', () => {
    // N = 8 outputs, K = 8 inputs, one group; level(n, k) = (n + 2k) % 16, zero(n) = n + 1, scale 0.5.
    const layer: UnpackedLinear = {
      bits: 4,
      groupSize: 8,
      rows: 8,
      cols: 8,
      levels: Uint8Array.from({ length: 64 }, (_, i) => (Math.floor(i / 8) + 2 * (i % 8)) % 16),
      zeros: Uint16Array.from({ length: 8 }, (_, n) => n + 1),
      scales: new Uint16Array(8).fill(0x3800),
    };
    const v1 = packGptq(layer, 'gptq');
    const v2 = packGptq(layer, 'gptq_v2');
    // qweight [K * 4 / 32, N] = [1, 8]: column 0 holds levels 0, 2, ..., 14 from the low nibble up.
    expect(hex(v1.qweight[0]!)).toBe('eca86420');
    expect(hex(v1.qweight[1]!)).toBe('fdb97531');
    // qzeros [1, N * 4 / 32] = [1, 1]: zero(n) in nibble n, v1 stores zero - 1.
    expect([...v2.qzeros].map(hex)).toEqual(['87654321']);
    expect([...v1.qzeros].map(hex)).toEqual(['76543210']);
    expect([...v1.gIdx]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    for (const [t, format] of [[v1, 'gptq'], [v2, 'gptq_v2']] as const) {
      const back = unpackGptq(t, 4, 8, 8, 8, format);
      expect(back).toEqual(layer);
    }
    // value(n = 1, k = 2) = (level 5 - zero 2) * 0.5 = 1.5, read back from v2's words.
    const back = unpackGptq(v2, 4, 8, 8, 8, 'gptq_v2');
    expect((back.levels[1 * 8 + 2]! - back.zeros[1]!) * f16BitsToF32(back.scales[1]!)).toBe(1.5);
  });

  it('packs 3-bit levels as one little-endian bit string over 3 words per 32, levels 10 and 21 straddling', () => {
    const cols = 32;
    const layer: UnpackedLinear = {
      bits: 3,
      groupSize: 32,
      rows: 32,
      cols,
      levels: Uint8Array.from({ length: 32 * cols }, (_, i) => (i % cols) % 8 ^ Math.floor(i / cols) % 8),
      zeros: Uint16Array.from({ length: 32 }, (_, n) => (n % 7) + 1),
      scales: new Uint16Array(32).fill(0x3c00),
    };
    const t = packGptq(layer, 'gptq_v2');
    // Column n's 3 words as one 96-bit integer, built from the definition rather than the loop.
    for (let n = 0; n < 32; n++) {
      let stream = 0n;
      for (let k = 0; k < cols; k++) stream |= BigInt(layer.levels[n * cols + k]!) << BigInt(3 * k);
      const words = [0, 1, 2].map((r) => hex(t.qweight[r * 32 + n]!));
      expect(words).toEqual([0, 1, 2].map((r) => hex(Number((stream >> BigInt(32 * r)) & 0xffffffffn))));
    }
    // Level 10 of column 0 is 10 % 8 = 2 (0b010): bits 30-31 of word 0 hold its low bits (0, 1), bit 0 of word 1 its high bit (0).
    expect((t.qweight[0]! >>> 30) & 3).toBe(0b10);
    expect(t.qweight[32]! & 1).toBe(0);
    // Level 21 = 5 (0b101): bit 31 of word 1 its low bit, bits 0-1 of word 2 the rest (0b10).
    expect(t.qweight[32]! >>> 31).toBe(1);
    expect(t.qweight[64]! & 3).toBe(0b10);
    expect(unpackGptq(t, 3, 32, cols, 32, 'gptq_v2')).toEqual(layer);
  });

  it('round-trips random layers at 2, 3 and 4 bits, v1 and v2, several groups', () => {
    for (const bits of [2, 3, 4] as const) {
      for (const format of ['gptq', 'gptq_v2'] as const) {
        const layer = randomLayer(bits, 64, 256, 64, bits * 10 + format.length);
        const t = packGptq(layer, format);
        expect(t.qweight.length).toBe(((256 * bits) / 32) * 64);
        expect(t.qzeros.length).toBe(4 * ((64 * bits) / 32));
        expect(unpackGptq(t, bits, 64, 256, 64, format)).toEqual(layer);
      }
    }
  });

  it('reads a v1 stored zero of 2^bits - 1 as 2^bits, as the v1 kernels add one per field', () => {
    const layer = randomLayer(2, 16, 32, 32, 3);
    layer.zeros.fill(4);
    const t = packGptq(layer, 'gptq');
    expect(hex(t.qzeros[0]!)).toBe('ffffffff');
    expect([...unpackGptq(t, 2, 16, 32, 32, 'gptq').zeros]).toEqual(new Array(16).fill(4));
  });
});

describe('AWQ GEMM packing', () => {
  it('packs a hand-built row in the order [0, 2, 4, 6, 1, 3, 5, 7]', () => {
    const layer: UnpackedLinear = {
      bits: 4,
      groupSize: 32,
      rows: 8,
      cols: 32,
      levels: Uint8Array.from({ length: 8 * 32 }, (_, i) => Math.floor(i / 32)),
      zeros: Uint16Array.from({ length: 8 }, (_, n) => 8 + n),
      scales: new Uint16Array(8).fill(0x3800),
    };
    const t = packAwq(layer);
    // Output n has level n at every k: nibble i holds output ORDER[i].
    expect(hex(t.qweight[0]!)).toBe('75316420');
    expect(hex(t.qweight[31]!)).toBe('75316420');
    expect(hex(t.qzeros[0]!)).toBe('fdb9eca8');
    expect(unpackAwq(t, 8, 32, 32)).toEqual(layer);
  });

  it('round-trips random layers with zeros from 0', () => {
    const layer = randomLayer(4, 24, 128, 32, 9, 0);
    expect(unpackAwq(packAwq(layer), 24, 128, 32)).toEqual(layer);
  });
});

describe('group blocks of an unpacked layer', () => {
  it('decode to (level - zero) * scale of the checkpoint group of each input', () => {
    for (const [bits, groupSize, cols] of [[4, 128, 256], [3, 64, 128], [2, 32, 64], [4, 256, 512], [3, 64, 64]] as const) {
      const layer = randomLayer(bits, 5, cols, groupSize, groupSize + bits);
      const dtype = groupDtypeFor(bits, cols, groupSize)!;
      expect(dtype).toBe(`w${bits}g${Math.min(128, groupSize, cols)}`);
      const got = dequantize(dtype, toGroupBlocks(layer, dtype), 5 * cols);
      for (let n = 0; n < 5; n++) {
        for (let k = 0; k < cols; k++) {
          const g = Math.floor(k / groupSize) * 5 + n;
          const want = (layer.levels[n * cols + k]! - layer.zeros[g]!) * f16BitsToF32(layer.scales[g]!);
          if (got[n * cols + k] !== Math.fround(want)) expect([n, k, got[n * cols + k]]).toEqual([n, k, want]);
        }
      }
    }
  });

  it('picks no group type when K or the group is not a multiple of 32', () => {
    expect(groupDtypeFor(4, 172, 128)).toBeUndefined();
    expect(groupDtypeFor(4, 256, 48)).toBeUndefined();
    expect(groupDtypeFor(4, 64, 128)).toBe('w4g64');
    expect(groupDtypeFor(2, 96, Infinity)).toBe('w2g32');
  });

  it('reads bit fields across word boundaries', () => {
    const words = [0x80000000 | 0, 0x00000001];
    // Field 10: bits 30-31 of word 0 (0, 1), then bit 0 of word 1 (1): 0b110.
    expect(bitField((i) => words[i]!, 10, 3)).toBe(0b110);
  });
});
