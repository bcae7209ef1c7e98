import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { describeModelFile } from './index.js';
import { ModelFileError } from '../errors.js';
import { ggufValue } from '../gguf/gguf-value.js';
import { writeGguf } from './index.js';

describe('describeModelFile', () => {
  it.runIf(modelFile('stories260K.gguf'))('summarises a GGUF as JSON with truncated arrays', async () => {
    const summary = await describeModelFile(modelFile('stories260K.gguf')!);
    const json = JSON.parse(JSON.stringify(summary)) as typeof summary;
    expect(json.format).toBe('gguf');
    expect(json.version).toBe(3);
    expect(json.metadata['llama.block_count']).toBe(5);
    expect(json.metadata['tokenizer.ggml.tokens']).toEqual({
      itemType: 'string',
      length: 512,
      items: ['<unk>', '<s>', '</s>', '<0x00>', '<0x01>', '<0x02>', '<0x03>', '<0x04>'],
    });
    expect(json.config?.numKvHeads).toBe(4);
    expect(json.tensors).toHaveLength(48);
    expect(json.tensors[0]).toEqual({
      name: 'token_embd.weight',
      dtype: 'F32',
      shape: [512, 64],
      bytes: 131072,
    });
  });

  it.runIf(modelFile('stories260K.bin'))('summarises a llama2.c checkpoint', async () => {
    const summary = await describeModelFile(modelFile('stories260K.bin')!);
    expect(summary.format).toBe('llama2c');
    expect(summary.metadata).toMatchObject({ dim: 64, vocabSize: 512, sharedClassifier: true });
    expect(summary.tensors.reduce((n, t) => n + t.bytes, 0)).toBeLessThan(summary.fileBytes);
  });

  it.runIf(modelFile('vocab/ggml-vocab-gpt-2.gguf'))('explains why a GGUF has no Llama config', async () => {
    const summary = await describeModelFile(modelFile('vocab/ggml-vocab-gpt-2.gguf')!);
    expect(summary.config).toBeUndefined();
    expect(summary.configError).toMatch(/architecture gpt2 is not supported/);
  });

  it('turns 64-bit values and nested arrays into JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'describe-'));
    const path = join(dir, 'm.gguf');
    await writeGguf(path, {
      metadata: {
        big: ggufValue.u64(1n << 60n),
        small: ggufValue.i64(-3n),
        nested: {
          type: 'array',
          itemType: 'array',
          value: [{ type: 'array', itemType: 'u64', value: BigUint64Array.from([5n]) }],
        },
      },
      tensors: [],
    });
    const summary = await describeModelFile(path);
    expect(summary.metadata).toEqual({
      big: '1152921504606846976',
      small: -3,
      nested: { itemType: 'array', length: 1, items: [{ itemType: 'u64', length: 1, items: [5] }] },
    });
  });

  it('refuses a file that is neither format with a typed error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'describe-'));
    const path = join(dir, 'notes.txt');
    await writeFile(path, 'just some text that is not a model');
    await expect(describeModelFile(path)).rejects.toThrow(ModelFileError);
    await expect(describeModelFile(path)).rejects.toThrow(/not a recognised model file/);
  });
});
