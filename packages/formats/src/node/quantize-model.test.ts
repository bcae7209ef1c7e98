import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantize } from '@llm/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedLlamaShapes } from '../gguf/gguf-weight-source.js';
import { SeededRandom } from '../synthetic/seeded-random.js';
import { modelFile } from '../testing/index.js';
import type { LlamaConfig } from '../weight-source.js';
import { openGguf, openHfFolder, quantizeModel, writeHfFolder } from './index.js';

const tokenizer = modelFile('tok512.bin');

// Rows of 64: whole Q4_0 blocks everywhere. A Hugging Face folder holds Q and K half-split, the
// GGUF adjacent, so their rows are permuted on the way.
const config: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 512,
  dim: 64,
  hiddenDim: 64,
  numLayers: 1,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  contextLength: 128,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeLayout: 'halfSplit',
  ropeScaling: { type: 'none', factor: 1 },
  tiedEmbeddings: false,
  qkvBias: false,
};

let dir: string;
let folder: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quantize-model-'));
  folder = join(dir, 'hf');
  const random = new SeededRandom(7);
  await writeHfFolder(folder, {
    config,
    torchDtype: 'float32',
    tensors: [...expectedLlamaShapes(config)].map(([name, shape]) => ({
      name,
      dtype: 'f32',
      shape,
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.nextFloat() * 2 - 1),
    })),
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function tensorBytes(path: string, name: string): Promise<Uint8Array> {
  const file = await openGguf(path);
  try {
    return Uint8Array.from(await file.readTensorBytes(name));
  } finally {
    await file.close();
  }
}

async function sourceValues(name: string): Promise<Float32Array> {
  const source = await openHfFolder(folder);
  try {
    return (await source.read(name)) as Float32Array;
  } finally {
    await source.close();
  }
}

describe.skipIf(!tokenizer)('quantizeModel with encoded tensors', () => {
  it('writes the given blocks, permuting Q and K rows between RoPE layouts as it permutes values', async () => {
    const q = await sourceValues('blk.0.attn_q.weight');
    const v = await sourceValues('blk.0.attn_v.weight');
    // Blocks of other values than the model's, so that the file shows which were written.
    const otherV = quantize('q4_0', v.map((x) => -0.5 * x));
    const plain = join(dir, 'plain.gguf');
    const given = join(dir, 'given.gguf');
    await quantizeModel(folder, plain, { mix: 'q4_0', tokenizerPath: tokenizer! });
    const result = await quantizeModel(folder, given, {
      mix: 'q4_0',
      tokenizerPath: tokenizer!,
      encodedTensors: new Map([
        // Half-split rows, as the folder holds them: quantizing rows commutes with reordering them.
        ['blk.0.attn_q.weight', { type: 'q4_0', data: quantize('q4_0', q) }],
        ['blk.0.attn_v.weight', { type: 'q4_0', data: otherV }],
      ]),
    });
    expect(await tensorBytes(given, 'blk.0.attn_q.weight')).toEqual(await tensorBytes(plain, 'blk.0.attn_q.weight'));
    expect(await tensorBytes(given, 'blk.0.attn_v.weight')).toEqual(otherV);
    expect(await tensorBytes(given, 'blk.0.attn_v.weight')).not.toEqual(await tensorBytes(plain, 'blk.0.attn_v.weight'));
    expect(result.tensors.filter((t) => t.encoded).map((t) => t.name)).toEqual(['blk.0.attn_q.weight', 'blk.0.attn_v.weight']);
  });

  it('refuses blocks of another type or size than the mix gives the tensor', async () => {
    const v = await sourceValues('blk.0.attn_v.weight');
    const out = join(dir, 'refused.gguf');
    await expect(
      quantizeModel(folder, out, {
        mix: 'q4_0',
        tokenizerPath: tokenizer!,
        encodedTensors: new Map([['blk.0.attn_v.weight', { type: 'q8_0', data: quantize('q8_0', v) }]]),
      }),
    ).rejects.toThrow(/blk\.0\.attn_v\.weight was encoded as q8_0, but is written as q4_0/);
    await expect(
      quantizeModel(folder, out, {
        mix: 'q4_0',
        tokenizerPath: tokenizer!,
        encodedTensors: new Map([['blk.0.attn_v.weight', { type: 'q4_0', data: quantize('q4_0', v.subarray(0, 64)) }]]),
      }),
    ).rejects.toThrow(/\[32, 64\] takes 1152 bytes of q4_0, but 36 were encoded/);
  });
});
