import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobSource } from '@llm/formats';
import { convertModel } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel, openTokenizer } from './node/index.js';
import { openModelFrom, openTokenizerFrom } from './open-model.js';

const gguf = modelFile('stories260K.gguf');
const bin = modelFile('stories260K.bin');
const tok512 = modelFile('tok512.bin');
const prompt = 'Once upon a time, there was a little girl named Lily.';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'open-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(gguf === undefined)('openModel', () => {
  it('a GGUF converted to a Hugging Face folder and back opens with its own tokenizer, same ids', async () => {
    const expected = (await openTokenizer(gguf!)).encode(prompt, { addSpecial: true });
    const hf = join(dir, 'hf');
    const back = join(dir, 'back.gguf');
    await convertModel(gguf!, hf, { type: 'f32' });
    await convertModel(hf, back, { type: 'f32' });
    for (const path of [back, hf]) {
      const model = await openModel(path);
      try {
        expect(model.tokenizer.encode(prompt, { addSpecial: true }), path).toEqual(expected);
      } finally {
        await model.source.close();
      }
    }
  });

  it('opens from a Blob as from the file', async () => {
    const fromFile = await openModel(gguf!);
    const fromBlob = await openModelFrom(blobSource(new Blob([await readFile(gguf!)]), 'stories260K.gguf'));
    try {
      expect(fromBlob.format).toBe('gguf');
      expect(fromBlob.source.config).toEqual(fromFile.source.config);
      expect(fromBlob.tokenizer.encode(prompt)).toEqual(fromFile.tokenizer.encode(prompt));
    } finally {
      await fromFile.source.close();
      await fromBlob.source.close();
    }
  });
});

describe.skipIf(bin === undefined || tok512 === undefined)('a llama2.c checkpoint', () => {
  it('needs a tokenizer, and says so without naming a command-line flag', async () => {
    await expect(openModel(bin!)).rejects.toThrow(/carries no tokenizer; give its tokenizer\.bin/);
    const model = await openModel(bin!, { tokenizerPath: tok512! });
    try {
      expect(model.format).toBe('llama2c');
    } finally {
      await model.source.close();
    }
  });

  it('opens a tokenizer.bin from a Blob', async () => {
    const tokenizer = await openTokenizerFrom(blobSource(new Blob([await readFile(tok512!)]), 'tok512.bin'));
    expect(tokenizer.decode(tokenizer.encode(prompt))).toBe(prompt);
  });
});
