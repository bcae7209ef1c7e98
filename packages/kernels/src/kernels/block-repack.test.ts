import { describe, expect, it } from 'vitest';
import { dequantize, elementType, f16BitsToF32, groupQuantParams, LlmError } from '@llm/quant';
import { BLOCK_DTYPES_READ, GROUP_DTYPES_READ, randomBlocks, seededRandom } from '../testing/index.js';
import { repackBlocks, repackedBlockBytes, type BlockMatrixDtype, type RepackedBlocks } from './block-repack.js';

const f = Math.fround;
const halfOf = (word: number, i: number) => f16BitsToF32((word >>> (16 * i)) & 0xffff);
const int8 = (v: number) => (v << 24) >> 24;

/**
 * Element e decoded from the repacked words the way the WGSL reads them (block-storage.ts), in
 * f32 arithmetic: a second reading of the layout, independent of the repacking code.
 */
function decodeRepacked(dtype: BlockMatrixDtype, r: RepackedBlocks, e: number): number {
  const g = e >> 5;
  const l = e & 31;
  const q = r.quants;
  const s = r.scales;
  const nibble = (base: number) => (q[base + (l >> 3)]! >>> (4 * (l & 7))) & 15;
  const pair = (base: number) => (q[base + (l >> 4)]! >>> (2 * (l & 15))) & 3;
  if (dtype.startsWith('w')) {
    const { bits, groupSize } = groupQuantParams(dtype as 'w4g32');
    const sz = s[Math.floor((32 * g) / groupSize)]!;
    const level =
      bits === 4
        ? nibble(g * 4)
        : bits === 2
          ? pair((g >> 1) * 4 + (g & 1) * 2)
          : pair((g >> 2) * 12 + ((g >> 1) & 1) * 4 + (g & 1) * 2) | (((q[(g >> 2) * 12 + 8 + (g & 3)]! >>> l) & 1) << 2);
    return f((level - (sz >>> 16)) * halfOf(sz, 0));
  }
  switch (dtype) {
    case 'q8_0':
      return f(int8(q[g * 8 + (l >> 2)]! >>> (8 * (l & 3))) * halfOf(s[g >> 1]!, g & 1));
    case 'q4_0':
      return f((nibble(g * 4) - 8) * halfOf(s[g >> 1]!, g & 1));
    case 'q4_1':
      return f(f(nibble(g * 4) * halfOf(s[g]!, 0)) + halfOf(s[g]!, 1));
    case 'q5_0':
    case 'q5_1': {
      const v = nibble(g * 4) | (((s[2 * g + 1]! >>> l) & 1) << 4);
      return dtype === 'q5_0'
        ? f((v - 16) * halfOf(s[2 * g]!, 0))
        : f(f(v * halfOf(s[2 * g]!, 0)) + halfOf(s[2 * g]!, 1));
    }
    case 'q4_k':
    case 'q5_k': {
      const per = dtype === 'q4_k' ? 5 : 13;
      const sb = g >> 3;
      const w = s[sb * per + 1 + ((g & 7) >> 1)]! >>> (16 * (g & 1));
      const d = f(halfOf(s[sb * per]!, 0) * (w & 255));
      const m = f(halfOf(s[sb * per]!, 1) * ((w >>> 8) & 255));
      const high = dtype === 'q5_k' ? ((s[sb * per + 5 + (g & 7)]! >>> l) & 1) << 4 : 0;
      return f(f(d * (nibble(g * 4) | high)) - m);
    }
    default: {
      const base = (g >> 1) * 12;
      const lo = nibble(base + 4 * (g & 1));
      const hi = (q[base + 8 + 2 * (g & 1) + (l >> 4)]! >>> (2 * (l & 15))) & 3;
      const sb = g >> 3;
      const dd = new Float32Array(new Uint32Array([s[sb * 5]!]).buffer)[0]!;
      const sw = s[sb * 5 + 1 + ((g & 7) >> 1)]! >>> (16 * (g & 1));
      const sc = int8(l < 16 ? sw & 255 : (sw >>> 8) & 255);
      return f(f(dd * sc) * ((lo | (hi << 4)) - 32));
    }
  }
}

describe('repackBlocks', () => {
  for (const dtype of [...BLOCK_DTYPES_READ, ...GROUP_DTYPES_READ]) {
    it(`keeps every ${dtype} value: the repacked layout decodes to the codec's values bit for bit`, () => {
      const rand = seededRandom(7);
      const block = elementType(dtype).blockSize;
      for (const how of ['quantized', 'bytes'] as const) {
        // One and three blocks of 32 or 64 leave w2's and w3's last vec4 partly filled.
        for (const elements of [block, 3 * block, 7 * 256]) {
          const blocks = randomBlocks(dtype, elements, rand, how);
          const want = dequantize(dtype, blocks, elements);
          const r = repackBlocks(dtype, blocks, elements);
          for (let e = 0; e < elements; e++) {
            const got = decodeRepacked(dtype, r, e);
            if (!Object.is(got, want[e]!)) expect(`${how} ${elements}: element ${e} = ${got}`).toBe(`${how} ${elements}: element ${e} = ${want[e]}`);
          }
        }
      }
    });
  }

  it('keeps the GPU bytes per weight close to the file: at most 1/8 more, 16-byte aligned groups', () => {
    const sizes = Object.fromEntries(
      BLOCK_DTYPES_READ.map((dtype) => {
        const { elements, bytes } = repackedBlockBytes(dtype);
        return [dtype, (8 * bytes) / elements];
      }),
    );
    expect(sizes).toEqual({
      q8_0: 8.5,
      q4_0: 4.5,
      q4_1: 5,
      q5_0: 6,
      q5_1: 6,
      q4_k: 4.625,
      q5_k: 5.625,
      q6_k: 6.625,
    });
    for (const dtype of BLOCK_DTYPES_READ) {
      const t = elementType(dtype);
      expect(sizes[dtype]! / ((8 * t.bytesPerBlock) / t.blockSize)).toBeLessThanOrEqual(1.125);
    }
  });

  it('stores the group types in their bits per weight plus one 32-bit word per group', () => {
    for (const dtype of GROUP_DTYPES_READ) {
      const { bits, groupSize } = groupQuantParams(dtype);
      const t = elementType(dtype);
      expect(repackedBlockBytes(dtype)).toEqual({ elements: groupSize, bytes: t.bytesPerBlock });
      expect((8 * t.bytesPerBlock) / groupSize).toBe(bits + 32 / groupSize);
    }
  });

  it('refuses a byte count or element count that is not whole blocks', () => {
    expect(() => repackBlocks('q8_0', new Uint8Array(33), 32)).toThrow(LlmError);
    expect(() => repackBlocks('q4_k', new Uint8Array(144), 128)).toThrow(/not a whole number of 256-element blocks/);
  });
});
