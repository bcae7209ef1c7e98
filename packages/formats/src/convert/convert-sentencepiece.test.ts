import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { openGguf } from '../node/index.js';
import { expectedLlamaShapes } from '../gguf/gguf-weight-source.js';
import { writeHfFolder } from '../node/index.js';
import { SeededRandom } from '../synthetic/seeded-random.js';
import type { LlamaConfig } from '../weight-source.js';
import { convertModel } from '../node/index.js';

const tokenizerModel = modelFile('llama2/tokenizer.model');
const llamaSpmVocab = modelFile('vocab/ggml-vocab-llama-spm.gguf');

/** A tiny random model with Llama 2's 32000-token vocabulary. */
const config: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 32000,
  dim: 8,
  hiddenDim: 12,
  numLayers: 1,
  numHeads: 2,
  numKvHeads: 1,
  headDim: 4,
  contextLength: 64,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeLayout: 'halfSplit',
  ropeScaling: { type: 'none', factor: 1 },
  tiedEmbeddings: true,
  qkvBias: false,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convert-spm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(tokenizerModel === undefined || llamaSpmVocab === undefined)(
  'Hugging Face tokenizer.model → GGUF',
  () => {
    it('writes the vocabulary llama.cpp writes, with tokenizer_config.json settings', async () => {
      const random = new SeededRandom(5);
      const hf = join(dir, 'tiny-llama2-vocab');
      await writeHfFolder(hf, {
        config,
        torchDtype: 'float32',
        tensors: [...expectedLlamaShapes(config)].map(([name, shape]) => ({
          name,
          dtype: 'f32',
          shape,
          data: Float32Array.from(
            { length: shape.reduce((a, b) => a * b, 1) },
            () => random.nextFloat() - 0.5,
          ),
        })),
      });
      await copyFile(tokenizerModel!, join(hf, 'tokenizer.model'));
      const template = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
      await writeFile(
        join(hf, 'tokenizer_config.json'),
        JSON.stringify({ add_bos_token: true, add_eos_token: false, chat_template: template }),
      );

      const out = join(dir, 'tiny.gguf');
      await convertModel(hf, out, { type: 'f16' });
      const ours = await openGguf(out);
      const reference = await openGguf(llamaSpmVocab!);
      try {
        for (const key of [
          'tokenizer.ggml.model',
          'tokenizer.ggml.pre',
          'tokenizer.ggml.tokens',
          'tokenizer.ggml.scores',
          'tokenizer.ggml.token_type',
          'tokenizer.ggml.bos_token_id',
          'tokenizer.ggml.eos_token_id',
          'tokenizer.ggml.unknown_token_id',
          'tokenizer.ggml.add_bos_token',
          'tokenizer.ggml.add_eos_token',
        ]) {
          expect(ours.get(key), key).toEqual(reference.get(key));
        }
        expect(ours.getString('tokenizer.chat_template')).toBe(template);
        expect(ours.tensor('token_embd.weight')?.ggmlType).toBe('F16');
        expect(ours.tensor('output_norm.weight')?.ggmlType).toBe('F32');
      } finally {
        await ours.close();
        await reference.close();
      }
    });

    it('refuses a tokenizer.model with more pieces than the embedding has rows', async () => {
      const checkpoint = modelFile('stories260K.bin');
      if (checkpoint === undefined) return;
      await expect(
        convertModel(checkpoint, join(dir, 'mismatch.gguf'), { type: 'f32', tokenizerPath: tokenizerModel! }),
      ).rejects.toMatchObject({
        name: 'ModelConvertError',
        message: expect.stringContaining('32000') as unknown,
      });
    });
  },
);
