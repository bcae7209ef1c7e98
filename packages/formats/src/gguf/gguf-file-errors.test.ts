import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GgufFormatError } from '../errors.js';
import { openGguf } from '../node/index.js';
import { ggufValue } from './gguf-value.js';
import { writeGguf } from '../node/index.js';

// Layout of the base file (see gguf-writer.test.ts): one u32 key "k", one F32 tensor "t" of 2.
const at = {
  tensorCount: 8,
  kvCount: 16,
  keyLength: 24,
  valueType: 33,
  nameLength: 41,
  numDims: 50,
  ne0: 54,
  ggmlType: 62,
  tensorOffset: 66,
  data: 96,
};

let dir: string;
let base: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gguf-errors-'));
  const path = join(dir, 'base.gguf');
  await writeGguf(path, {
    metadata: { k: ggufValue.u32(7) },
    tensors: [{ name: 't', dtype: 'f32', shape: [2], data: Float32Array.from([1.5, -2.5]) }],
  });
  base = new Uint8Array(await readFile(path));
});

async function openPatched(name: string, patch: (v: DataView, bytes: Uint8Array) => Uint8Array | void) {
  const bytes = base.slice();
  const replaced = patch(new DataView(bytes.buffer), bytes);
  const path = join(dir, `${name}.gguf`);
  await writeFile(path, replaced ?? bytes);
  return openGguf(path);
}

async function expectFormatError(
  name: string,
  patch: (v: DataView, bytes: Uint8Array) => Uint8Array | void,
  message: RegExp,
  offset?: number,
) {
  const error: unknown = await openPatched(name, patch).then(
    async (f) => {
      await f.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GgufFormatError);
  expect((error as GgufFormatError).message).toMatch(message);
  if (offset !== undefined) expect((error as GgufFormatError).offset).toBe(offset);
}

describe('openGguf refuses malformed files with GgufFormatError', () => {
  it('opens the unpatched base file', async () => {
    const f = await openPatched('ok', () => undefined);
    expect(Array.from(await f.readTensor('t'))).toEqual([1.5, -2.5]);
    await f.close();
  });

  it('every truncation before the end of the tensor data', async () => {
    for (let length = 0; length < at.data + 8; length++) {
      await expectFormatError(`cut-${length}`, (_, bytes) => bytes.subarray(0, length), /./);
    }
  });

  it('a wrong magic number', async () => {
    await expectFormatError('magic', (v) => v.setUint32(0, 0x12345678, true), /not a GGUF file/, 0);
  });

  it('version 1, an unknown version and a big-endian file', async () => {
    await expectFormatError('v1', (v) => v.setUint32(4, 1, true), /version 1 is not supported/, 4);
    await expectFormatError('v4', (v) => v.setUint32(4, 4, true), /version 4 is not supported/, 4);
    await expectFormatError('be', (v) => v.setUint32(4, 3, false), /big-endian/, 4);
  });

  it('a tensor count larger than the file can hold', async () => {
    await expectFormatError(
      'tensors',
      (v) => v.setBigUint64(at.tensorCount, 1n << 62n, true),
      /tensor count is/,
      8,
    );
  });

  it('a key/value count larger than the file can hold', async () => {
    await expectFormatError(
      'kvs',
      (v) => v.setBigUint64(at.kvCount, 1000n, true),
      /key\/value count is 1000/,
      16,
    );
  });

  it('a string length past the end of the file', async () => {
    await expectFormatError(
      'key',
      (v) => v.setBigUint64(at.keyLength, 1n << 40n, true),
      /length of a metadata key/,
      24,
    );
    await expectFormatError(
      'huge',
      (v) => v.setBigUint64(at.keyLength, 0xffff_ffff_ffff_ffffn, true),
      /18446744073709551615/,
      24,
    );
  });

  it('an unknown value type', async () => {
    await expectFormatError('vtype', (v) => v.setUint32(at.valueType, 13, true), /unknown value type 13/, 33);
  });

  it('an unknown or withdrawn ggml type', async () => {
    await expectFormatError('gtype', (v) => v.setUint32(at.ggmlType, 4, true), /unknown ggml type id 4/, 62);
  });

  it('too many dimensions', async () => {
    await expectFormatError('dims', (v) => v.setUint32(at.numDims, 5, true), /5 dimensions/, 50);
  });

  it('a misaligned tensor offset', async () => {
    await expectFormatError(
      'misaligned',
      (v) => v.setBigUint64(at.tensorOffset, 4n, true),
      /not a multiple/,
      66,
    );
  });

  it('tensor data past the end of the file', async () => {
    await expectFormatError(
      'past',
      (v) => v.setBigUint64(at.tensorOffset, 32n, true),
      /runs past the end/,
      66,
    );
    await expectFormatError(
      'shape',
      (v) => v.setBigUint64(at.ne0, 1n << 40n, true),
      /more than the whole file/,
    );
  });

  it('a general.alignment that is not a power of two', async () => {
    // The writer refuses such an alignment, so write a valid one and patch its value.
    const path = join(dir, 'align.gguf');
    await writeGguf(path, { metadata: { 'general.alignment': ggufValue.u32(64) }, tensors: [] });
    const aligned = new Uint8Array(await readFile(path));
    const v = new DataView(aligned.buffer);
    const valueAt = 24 + 8 + 'general.alignment'.length + 4;
    expect(v.getUint32(valueAt, true)).toBe(64);
    v.setUint32(valueAt, 48, true);
    await writeFile(path, aligned);
    await expect(openGguf(path)).rejects.toThrow(/power of two, found 48/);
  });
});
