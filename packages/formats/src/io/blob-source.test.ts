import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { openGgufSource } from '../gguf/gguf-file.js';
import { modelFile } from '../testing/index.js';
import { blobSource } from './blob-source.js';

const gguf = modelFile('stories260K.gguf');

describe('blobSource', () => {
  it('reads ranges of a Blob, clamped to its end', async () => {
    const source = blobSource(new Blob([new Uint8Array([1, 2, 3, 4, 5])]), 'five');
    expect(source.size).toBe(5);
    expect([...(await source.read(1, 3))]).toEqual([2, 3, 4]);
    expect([...(await source.read(3, 10))]).toEqual([4, 5]);
    expect((await source.read(5, 4)).length).toBe(0);
  });

  it('takes a File its name', () => {
    expect(blobSource(new File([new Uint8Array(2)], 'model.gguf')).name).toBe('model.gguf');
  });

  it.skipIf(gguf === undefined)('opens a GGUF and reads its tensors as from the file', async () => {
    const bytes = await readFile(gguf!);
    const file = await openGgufSource(blobSource(new Blob([bytes]), 'stories260K.gguf'));
    try {
      expect(file.getString('general.architecture')).toBe('llama');
      const info = file.tensors[0]!;
      const data = await file.readTensorBytes(info.name);
      expect(data).toEqual(new Uint8Array(bytes.buffer, bytes.byteOffset + info.offset, info.byteLength));
    } finally {
      await file.close();
    }
  });
});
