import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ggufTokenizerMetadata } from '../convert/gguf-llama-metadata.js';
import { modelFile } from '../testing/index.js';
import { convertModel } from './convert-model.js';
import { describeModelFile } from './describe-model-file.js';
import { openGguf } from './open-files.js';

const gguf = modelFile('stories260K.gguf');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convert-hf-tokenizer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(gguf === undefined)('GGUF -> Hugging Face folder -> GGUF', () => {
  it('writes tokenizer.model and tokenizer_config.json, and the vocabulary comes back unchanged', async () => {
    const hf = join(dir, 'hf');
    const toHf = await convertModel(gguf!, hf, { type: 'f32' });
    expect([...toHf.tokenizerFiles].sort()).toEqual(['tokenizer.model', 'tokenizer_config.json']);
    expect((await readdir(hf)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.model',
      'tokenizer_config.json',
    ]);
    const back = join(dir, 'back.gguf');
    await convertModel(hf, back, { type: 'f32' });
    const [original, converted] = await Promise.all([openGguf(gguf!), openGguf(back)]);
    try {
      const before = ggufTokenizerMetadata(original);
      const after = ggufTokenizerMetadata(converted);
      for (const key of [
        'tokens',
        'scores',
        'token_type',
        'bos_token_id',
        'eos_token_id',
        'unknown_token_id',
      ]) {
        expect(after.get(`tokenizer.ggml.${key}`), key).toEqual(before.get(`tokenizer.ggml.${key}`));
      }
    } finally {
      await original.close();
      await converted.close();
    }
  });

  it('describes the folder like a file: config.json, Llama config and tensors', async () => {
    const hf = join(dir, 'described');
    await convertModel(gguf!, hf, { type: 'f16' });
    const summary = await describeModelFile(hf);
    const file = await describeModelFile(gguf!);
    expect(summary.format).toBe('hf');
    expect(summary.metadata['model_type']).toBe('llama');
    expect(summary.config).toMatchObject({ ...file.config, ropeLayout: 'halfSplit' });
    expect(summary.tensors.map((t) => t.name).sort()).toEqual(file.tensors.map((t) => t.name).sort());
    expect(summary.tensors.find((t) => t.name === 'token_embd.weight')?.dtype).toBe('F16');
  });
});
