import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGgufSource } from '../gguf/gguf-file.js';
import { writeGgufTo } from '../gguf/gguf-writer.js';
import { ggufValue } from '../gguf/gguf-value.js';
import { openHfFolderSource } from '../hf/hf-weight-source.js';
import { convertModel, openHfFolder } from '../node/index.js';
import { modelFile } from '../testing/index.js';
import { MemorySink } from './byte-sink.js';
import { blobSource } from './blob-source.js';
import { blobFolder } from './model-folder.js';

const gguf = modelFile('stories260K.gguf');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'model-folder-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('blobFolder', () => {
  it.skipIf(gguf === undefined)('opens a Hugging Face folder from Files as from disk', async () => {
    const hf = join(dir, 'hf');
    await convertModel(gguf!, hf, { type: 'f32' });
    const files = await Promise.all(
      (await readdir(hf)).map(async (name) => new File([await readFile(join(hf, name))], name)),
    );
    const fromFiles = await openHfFolderSource(blobFolder('picked', files));
    const fromDisk = await openHfFolder(hf);
    try {
      expect(fromFiles.config).toEqual(fromDisk.config);
      for (const name of fromDisk.tensors.keys()) {
        expect(await fromFiles.read(name)).toEqual(await fromDisk.read(name));
      }
    } finally {
      await fromFiles.close();
      await fromDisk.close();
    }
  });

  it('says a file is absent', async () => {
    expect(await blobFolder('empty', new Map()).open('config.json')).toBeUndefined();
  });
});

describe('MemorySink', () => {
  it('holds a GGUF written in memory that reads back', async () => {
    const sink = new MemorySink('memory.gguf');
    await writeGgufTo(sink, {
      metadata: { 'general.architecture': ggufValue.string('llama') },
      tensors: [{ name: 't', dtype: 'f32', shape: [3], data: Float32Array.of(1, 2, 3) }],
    });
    const file = await openGgufSource(blobSource(new Blob([sink.bytes!]), sink.name));
    try {
      expect([...(await file.readTensor('t'))]).toEqual([1, 2, 3]);
    } finally {
      await file.close();
    }
  });
});
