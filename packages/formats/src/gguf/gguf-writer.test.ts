import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantize } from '@llm/quant';
import { beforeAll, describe, expect, it } from 'vitest';
import { GgufFormatError } from '../errors.js';
import { openGguf } from '../node/index.js';
import { ggufValue, type GgufValue } from './gguf-value.js';
import { writeGguf } from '../node/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gguf-writer-'));
});

function seededFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const everyType: Record<string, GgufValue> = {
  'test.u8': { type: 'u8', value: 255 },
  'test.i8': { type: 'i8', value: -128 },
  'test.u16': { type: 'u16', value: 65535 },
  'test.i16': { type: 'i16', value: -32768 },
  'test.u32': { type: 'u32', value: 0xffff_ffff },
  'test.i32': { type: 'i32', value: -0x8000_0000 },
  'test.f32': { type: 'f32', value: 0.5 },
  'test.f64': { type: 'f64', value: Math.PI },
  'test.u64': { type: 'u64', value: (1n << 64n) - 1n },
  'test.i64': { type: 'i64', value: -(1n << 63n) },
  'test.bool': { type: 'bool', value: true },
  'test.string': { type: 'string', value: 'héllo ▁wörld 🦙' },
  'test.empty_string': { type: 'string', value: '' },
  'test.strings': ggufValue.stringArray(['a', '', '▁b', '<0x0A>']),
  'test.f32s': ggufValue.f32Array([1.5, -2, 3.25]),
  'test.i32s': ggufValue.i32Array([1, -2, 3]),
  'test.u8s': { type: 'array', itemType: 'u8', value: Uint8Array.from([1, 2, 3]) },
  'test.i8s': { type: 'array', itemType: 'i8', value: Int8Array.from([-1, 2]) },
  'test.u16s': { type: 'array', itemType: 'u16', value: Uint16Array.from([65535]) },
  'test.i16s': { type: 'array', itemType: 'i16', value: Int16Array.from([-5]) },
  'test.u32s': ggufValue.u32Array([7, 8]),
  'test.f64s': { type: 'array', itemType: 'f64', value: Float64Array.from([1e300]) },
  'test.u64s': { type: 'array', itemType: 'u64', value: BigUint64Array.from([1n, 1n << 60n]) },
  'test.i64s': { type: 'array', itemType: 'i64', value: BigInt64Array.from([-1n]) },
  'test.bools': { type: 'array', itemType: 'bool', value: [true, false, true] },
  'test.empty': { type: 'array', itemType: 'i32', value: new Int32Array(0) },
  'test.nested': {
    type: 'array',
    itemType: 'array',
    value: [
      { type: 'array', itemType: 'string', value: ['x', 'y'] },
      { type: 'array', itemType: 'i32', value: Int32Array.from([4]) },
      { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'bool', value: [false] }] },
    ],
  },
};

describe('writeGguf', () => {
  for (const version of [2, 3] as const) {
    it(`round-trips every metadata value type through a v${version} file`, async () => {
      const path = join(dir, `types-v${version}.gguf`);
      await writeGguf(path, { metadata: everyType, tensors: [], version });
      const f = await openGguf(path);
      try {
        expect(f.version).toBe(version);
        expect(f.tensors).toEqual([]);
        expect([...f.metadata.keys()]).toEqual(Object.keys(everyType));
        for (const [key, value] of Object.entries(everyType)) expect(f.get(key), key).toEqual(value);
      } finally {
        await f.close();
      }
    });
  }

  it('writes metadata far larger than its first header buffer', async () => {
    const path = join(dir, 'big-header.gguf');
    const tokens = Array.from({ length: 40000 }, (_, i) => `tok-${i}-${'x'.repeat(i % 13)}`);
    await writeGguf(path, {
      metadata: { 'tokenizer.ggml.tokens': ggufValue.stringArray(tokens) },
      tensors: [],
    });
    const f = await openGguf(path);
    expect(f.getStringArray('tokenizer.ggml.tokens')).toEqual(tokens);
    await f.close();
  });

  it('writes f32, f16 and bf16 tensors that read back bit for bit at their aligned offsets', async () => {
    const path = join(dir, 'tensors.gguf');
    const a = seededFloats(3 * 5, 1);
    const b = Uint16Array.from(seededFloats(7, 2), (x) => Math.floor((x + 1) * 30000));
    const c = Uint16Array.from(seededFloats(4 * 3 * 2, 3), (x) => Math.floor((x + 1) * 20000));
    await writeGguf(path, {
      metadata: { 'general.architecture': ggufValue.string('llama') },
      tensors: [
        { name: 'a', dtype: 'f32', shape: [3, 5], data: a },
        { name: 'b', dtype: 'f16', shape: [7], data: b },
        { name: 'c', dtype: 'bf16', shape: [4, 3, 2], data: c },
      ],
    });
    const f = await openGguf(path);
    try {
      expect(f.tensor('a')?.dims).toEqual([5, 3]);
      expect(f.tensor('a')?.shape).toEqual([3, 5]);
      expect(f.tensor('c')?.shape).toEqual([4, 3, 2]);
      expect(f.tensor('b')?.ggmlType).toBe('F16');
      expect(f.tensor('c')?.ggmlType).toBe('BF16');
      for (const t of f.tensors) expect((t.offset - f.dataOffset) % 32).toBe(0);
      expect(await f.readTensor('a')).toEqual(a);
      expect(await f.readTensor('b')).toEqual(b);
      expect(await f.readTensor('c')).toEqual(c);
    } finally {
      await f.close();
    }
    expect((await stat(path)).size % 32).toBe(0);
  });

  it('writes block-quantized tensors from their encoded bytes, refusing rows that are not whole blocks', async () => {
    const path = join(dir, 'quantized.gguf');
    const weights = seededFloats(4 * 256, 5);
    const q8 = quantize('q8_0', weights);
    const q4k = quantize('q4_k', weights);
    await writeGguf(path, {
      metadata: {},
      tensors: [
        { name: 'q8', dtype: 'q8_0', shape: [4, 256], data: q8 },
        {
          name: 'q4k',
          dtype: 'q4_k',
          shape: [4, 256],
          data: () => [q4k.subarray(0, 144), q4k.subarray(144)],
        },
        { name: 'norm', dtype: 'f32', shape: [256], data: weights.subarray(0, 256) },
      ],
    });
    const f = await openGguf(path);
    try {
      expect(f.tensor('q8')?.ggmlType).toBe('Q8_0');
      expect(f.tensor('q4k')?.ggmlType).toBe('Q4_K');
      expect(f.tensor('q4k')?.shape).toEqual([4, 256]);
      expect(await f.readTensorBytes('q8')).toEqual(q8);
      expect(await f.readTensorBytes('q4k')).toEqual(q4k);
      for (const t of f.tensors) expect((t.offset - f.dataOffset) % 32).toBe(0);
    } finally {
      await f.close();
    }
    await expect(
      writeGguf(join(dir, 'ragged.gguf'), {
        metadata: {},
        tensors: [
          { name: 'r', dtype: 'q4_k', shape: [8, 128], data: quantize('q4_k', seededFloats(1024, 6)) },
        ],
      }),
    ).rejects.toThrow(/rows of 128, not whole Q4_K blocks of 256/);
    await expect(stat(join(dir, 'ragged.gguf'))).rejects.toThrow();
  });

  it('streams tensor data from async chunks and honours a custom alignment', async () => {
    const path = join(dir, 'streamed.gguf');
    const whole = seededFloats(1000, 4);
    const onProgress: number[] = [];
    await writeGguf(path, {
      metadata: {},
      alignment: 64,
      tensors: [
        { name: 'small', dtype: 'f32', shape: [3], data: seededFloats(3, 5) },
        {
          name: 'streamed',
          dtype: 'f32',
          shape: [10, 100],
          data: async function* () {
            for (let row = 0; row < 10; row++) yield whole.subarray(row * 100, row * 100 + 100);
          },
        },
      ],
      onProgress: (written) => onProgress.push(written),
    });
    const f = await openGguf(path);
    try {
      expect(f.alignment).toBe(64);
      expect(f.getU32('general.alignment')).toBe(64);
      expect(((f.tensor('streamed')?.offset ?? 1) - f.dataOffset) % 64).toBe(0);
      expect(await f.readTensor('streamed')).toEqual(whole);
    } finally {
      await f.close();
    }
    expect(onProgress.at(-1)).toBe((await stat(path)).size);
  });

  it('refuses data of the wrong length and leaves no file behind', async () => {
    const path = join(dir, 'short.gguf');
    await expect(
      writeGguf(path, {
        metadata: {},
        tensors: [{ name: 'x', dtype: 'f32', shape: [4], data: new Float32Array(3) }],
      }),
    ).rejects.toThrow(/tensor x got 12 of its 16 bytes/);
    await expect(stat(path)).rejects.toThrow();
    await expect(
      writeGguf(path, {
        metadata: {},
        tensors: [{ name: 'x', dtype: 'f32', shape: [2], data: new Float32Array(3) }],
      }),
    ).rejects.toThrow(GgufFormatError);
  });

  it('refuses chunks of the wrong element type, out-of-range integers and long names', async () => {
    const path = join(dir, 'bad.gguf');
    await expect(
      writeGguf(path, {
        metadata: {},
        tensors: [{ name: 'x', dtype: 'f16', shape: [2], data: new Float32Array(1) }],
      }),
    ).rejects.toThrow(/got a Float32Array chunk/);
    await expect(writeGguf(path, { metadata: { k: ggufValue.u8(256) }, tensors: [] })).rejects.toThrow(
      /does not fit a u8/,
    );
    await expect(
      writeGguf(path, {
        metadata: {},
        tensors: [{ name: 'n'.repeat(64), dtype: 'f32', shape: [1], data: new Float32Array(1) }],
      }),
    ).rejects.toThrow(/over 63 bytes/);
  });

  it('lays out the header exactly as the GGUF spec says', async () => {
    const path = join(dir, 'exact.gguf');
    await writeGguf(path, {
      metadata: { k: ggufValue.u32(7) },
      tensors: [{ name: 't', dtype: 'f32', shape: [2], data: Float32Array.from([1, 2]) }],
    });
    const bytes = await readFile(path);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(bytes.subarray(0, 4).toString()).toBe('GGUF');
    expect(v.getUint32(4, true)).toBe(3);
    expect(v.getBigUint64(8, true)).toBe(1n); // tensors
    expect(v.getBigUint64(16, true)).toBe(1n); // key/values
    expect(v.getBigUint64(24, true)).toBe(1n); // key length
    expect(bytes.subarray(32, 33).toString()).toBe('k');
    expect(v.getUint32(33, true)).toBe(4); // u32
    expect(v.getUint32(37, true)).toBe(7);
    expect(v.getBigUint64(41, true)).toBe(1n); // name length
    expect(v.getUint32(50, true)).toBe(1); // n_dims
    expect(v.getBigUint64(54, true)).toBe(2n); // ne0
    expect(v.getUint32(62, true)).toBe(0); // F32
    expect(v.getBigUint64(66, true)).toBe(0n); // offset
    expect(v.getFloat32(96, true)).toBe(1); // data starts at 74 rounded up to 96
    expect(bytes.length).toBe(128);
  });
});
