import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedModelError } from '../errors.js';
import { SafetensorsFormatError } from './safetensors-format-error.js';
import { openSafetensors } from '../node/index.js';
import { writeSafetensors } from '../node/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file laid out by hand from the format's definition: u64 LE header length, JSON, data. */
function safetensorsBytes(header: unknown, data: Uint8Array, headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

async function fileWith(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

async function openError(path: string): Promise<SafetensorsFormatError> {
  const error: unknown = await openSafetensors(path).then(
    async (file) => {
      await file.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SafetensorsFormatError);
  return error as SafetensorsFormatError;
}

describe('openSafetensors', () => {
  it('reads F32, F16 and BF16 tensors and __metadata__ from a hand-laid-out file', async () => {
    const f32 = new Float32Array([1.5, -2, 3.25, 1e-3]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff]);
    const bf16 = new Uint16Array([0x3f80, 0xbf80]);
    const data = new Uint8Array(16 + 6 + 4);
    data.set(new Uint8Array(f32.buffer), 0);
    data.set(new Uint8Array(f16.buffer), 16);
    data.set(new Uint8Array(bf16.buffer), 22);
    const path = await fileWith(
      'mixed.safetensors',
      safetensorsBytes(
        {
          __metadata__: { format: 'pt' },
          w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
          h: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
          b: { dtype: 'BF16', shape: [1, 2], data_offsets: [22, 26] },
        },
        data,
      ),
    );
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt' });
      expect([...file.tensors.keys()]).toEqual(['w', 'h', 'b']);
      expect(file.tensors.get('w')).toMatchObject({ dtype: 'F32', shape: [2, 2], byteLength: 16 });
      expect(await file.read('w')).toEqual(f32);
      expect(await file.read('h')).toEqual(f16);
      expect(await file.read('b')).toEqual(bf16);
    } finally {
      await file.close();
    }
  });

  it('lists tensors of other dtypes but refuses to read them with UnsupportedModelError', async () => {
    const path = await fileWith(
      'ints.safetensors',
      safetensorsBytes(
        { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } },
        new Uint8Array(16).fill(7),
      ),
    );
    const file = await openSafetensors(path);
    try {
      expect(file.tensors.get('ids')?.dtype).toBe('I64');
      await expect(file.read('ids')).rejects.toBeInstanceOf(UnsupportedModelError);
      await expect(file.read('missing')).rejects.toMatchObject({ problem: 'unknown-tensor' });
    } finally {
      await file.close();
    }
  });

  it.each([
    ['a header length over 100 MB', safetensorsBytes({}, new Uint8Array(0), 200_000_000n), 'header-length'],
    [
      'a header length past the end of the file',
      safetensorsBytes({}, new Uint8Array(0), 4096n),
      'header-length',
    ],
    ['a file shorter than 8 bytes', new Uint8Array([1, 2, 3]), 'header-length'],
    ['a header that is not JSON', new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7b, 0x7d]), 'header-json'],
    ['a header that is a JSON array', safetensorsBytes([1, 2], new Uint8Array(0)), 'header-json'],
    [
      'an unknown dtype',
      safetensorsBytes({ t: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16)),
      'header-schema',
    ],
    [
      'a negative dimension',
      safetensorsBytes({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      'header-schema',
    ],
    ['non-string metadata', safetensorsBytes({ __metadata__: { n: 1 } }, new Uint8Array(0)), 'header-schema'],
    [
      'offsets past the end of the data',
      safetensorsBytes({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
      'offsets-out-of-range',
    ],
    [
      'offsets that end before they begin',
      safetensorsBytes({ t: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, new Uint8Array(8)),
      'offsets-out-of-range',
    ],
    [
      'a byte range that does not match dtype and shape',
      safetensorsBytes({ t: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      'tensor-size',
    ],
    [
      'overlapping tensors',
      safetensorsBytes(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        new Uint8Array(12),
      ),
      'overlapping-offsets',
    ],
  ])('refuses %s with a typed error', async (_, bytes, problem) => {
    const path = await fileWith(`bad-${problem}.safetensors`, bytes);
    const error = await openError(path);
    expect(error.problem).toBe(problem);
    expect(error.message).toContain(path);
  });

  it('refuses a missing file with a typed error', async () => {
    expect((await openError(join(dir, 'absent.safetensors'))).problem).toBe('open');
  });

  it('reads a tensor that lies past 4 GiB in a sparse file', async () => {
    const offset = 4.5 * 2 ** 30;
    const values = new Float32Array([0.25, -7, 1e30]);
    const header = new TextEncoder().encode(
      JSON.stringify({ far: { dtype: 'F32', shape: [3], data_offsets: [offset, offset + 12] } }),
    );
    const path = join(dir, 'sparse.safetensors');
    const handle = await open(path, 'w');
    try {
      const prefix = new Uint8Array(8 + header.byteLength);
      new DataView(prefix.buffer).setBigUint64(0, BigInt(header.byteLength), true);
      prefix.set(header, 8);
      await handle.write(prefix, 0, prefix.byteLength, 0);
      await handle.write(new Uint8Array(values.buffer), 0, 12, 8 + header.byteLength + offset);
    } finally {
      await handle.close();
    }
    const file = await openSafetensors(path);
    try {
      expect(await file.read('far')).toEqual(values);
    } finally {
      await file.close();
      await rm(path);
    }
  });
});

describe('writeSafetensors', () => {
  it('writes a file that reads back identically, 8-byte aligned, with lazy tensors', async () => {
    const path = join(dir, 'written.safetensors');
    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const b = new Uint16Array([0x3c00, 0x4000, 0x4200]);
    let produced = 0;
    await writeSafetensors(
      path,
      [
        { name: 'a', dtype: 'f32', shape: [2, 3], data: a },
        {
          name: 'b',
          dtype: 'bf16',
          shape: [3],
          data: async () => {
            produced++;
            return b;
          },
        },
        { name: 'empty', dtype: 'f16', shape: [0, 4], data: new Uint16Array(0) },
      ],
      { format: 'pt' },
    );
    expect(produced).toBe(1);
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.tensors.get('a')!.fileOffset % 8).toBe(0);
      expect(file.tensors.get('b')).toMatchObject({ dtype: 'BF16', shape: [3] });
      expect(await file.read('a')).toEqual(a);
      expect(await file.read('b')).toEqual(b);
      expect(await file.read('empty')).toEqual(new Uint16Array(0));
    } finally {
      await file.close();
    }
  });

  it('refuses data whose length does not match the shape and leaves no file behind', async () => {
    const path = join(dir, 'mismatch.safetensors');
    await expect(
      writeSafetensors(path, [{ name: 'a', dtype: 'f32', shape: [3], data: new Float32Array(2) }]),
    ).rejects.toMatchObject({ name: 'SafetensorsFormatError', problem: 'invalid-input' });
    await expect(openSafetensors(path)).rejects.toMatchObject({ problem: 'open' });
    await expect(openSafetensors(`${path}.partial`)).rejects.toMatchObject({ problem: 'open' });
  });
});
