import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { openGguf } from '../node/index.js';
import { expectedLlamaShapes } from '../gguf/gguf-weight-source.js';
import { openGgufWeightSource } from '../node/index.js';
import { writeHfFolder } from '../node/index.js';
import { openHfFolder } from '../node/index.js';
import { SeededRandom } from '../synthetic/seeded-random.js';
import type { LlamaConfig, WeightSource } from '../weight-source.js';
import { convertModel } from '../node/index.js';
import { llama3RopeFactors } from './gguf-llama-metadata.js';
import { permuteRopeRows } from './rope-permutation.js';

const tokenizer = modelFile('tok512.bin');

const base: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 512,
  dim: 16,
  hiddenDim: 20,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 6,
  contextLength: 256,
  rmsNormEps: 1e-6,
  ropeTheta: 500000,
  ropeLayout: 'halfSplit',
  ropeScaling: { type: 'none', factor: 1 },
  tiedEmbeddings: false,
  qkvBias: false,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convert-synthetic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hfFolder(name: string, config: LlamaConfig, seed: number): Promise<string> {
  const random = new SeededRandom(seed);
  const path = join(dir, name);
  await writeHfFolder(path, {
    config,
    torchDtype: 'float32',
    tensors: [...expectedLlamaShapes(config)].map(([tensor, shape]) => ({
      name: tensor,
      dtype: 'f32',
      shape,
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.nextFloat() * 2 - 1),
    })),
  });
  return path;
}

async function sameTensors(
  a: WeightSource,
  b: WeightSource,
  relayout?: (name: string, data: Float32Array) => Float32Array,
): Promise<void> {
  for (const [name, info] of b.tensors) {
    if (!a.tensors.has(name)) continue;
    expect(a.tensors.get(name)?.shape, name).toEqual(info.shape);
    const raw = (await b.read(name)) as Float32Array;
    const expected = relayout === undefined ? raw : relayout(name, raw);
    const actual = await a.read(name);
    // Byte equality first: vitest's element-wise diff is slow and only needed to show a mismatch.
    const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(
      Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
    );
    if (!same) expect(actual, name).toEqual(expected);
  }
}

describe.skipIf(tokenizer === undefined)('conversions of synthetic Hugging Face folders', () => {
  it('Qwen2 keeps its half-split layout and Q/K/V biases in GGUF (qwen2 is NEOX in llama.cpp) and back', async () => {
    // llama.cpp's qwen2 expects head_dim × heads = hidden_size, as every Qwen2 checkpoint has.
    const config: LlamaConfig = {
      ...base,
      architecture: 'qwen2',
      headDim: 4,
      qkvBias: true,
      tiedEmbeddings: true,
    };
    const hf = await hfFolder('qwen2', config, 11);
    const gguf = join(dir, 'qwen2.gguf');
    await convertModel(hf, gguf, { type: 'f32', tokenizerPath: tokenizer! });
    const file = await openGguf(gguf);
    expect(file.getString('general.architecture')).toBe('qwen2');
    expect(file.getU32('qwen2.attention.key_length')).toBeUndefined();
    expect(file.tensor('blk.1.attn_k.bias')?.shape).toEqual([8]);
    await file.close();

    const back = join(dir, 'qwen2-back');
    await convertModel(gguf, back, { type: 'f32' });
    const configJson = JSON.parse(await readFile(join(back, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(configJson).toMatchObject({
      architectures: ['Qwen2ForCausalLM'],
      head_dim: 4,
      tie_word_embeddings: true,
    });

    const original = await openHfFolder(hf);
    const viaGguf = await openGgufWeightSource(gguf);
    const roundTrip = await openHfFolder(back);
    try {
      expect(viaGguf.config).toMatchObject({ architecture: 'qwen2', ropeLayout: 'halfSplit', qkvBias: true });
      await sameTensors(viaGguf, original);
      expect(roundTrip.config).toEqual({
        ...original.config,
        rmsNormEps: Math.fround(1e-6),
        ropeTheta: 500000,
      });
      await sameTensors(roundTrip, original);
    } finally {
      await Promise.all([original.close(), viaGguf.close(), roundTrip.close()]);
    }
  });

  it('Llama with a head dimension other than dim / heads: permuted for GGUF, restored exactly for Hugging Face', async () => {
    const hf = await hfFolder('llama-wide-heads', base, 12);
    const gguf = join(dir, 'llama-wide-heads.gguf');
    await convertModel(hf, gguf, { type: 'f32', tokenizerPath: tokenizer! });
    const back = join(dir, 'llama-wide-heads-back');
    await convertModel(gguf, back, { type: 'f32' });
    const original = await openHfFolder(hf);
    const viaGguf = await openGgufWeightSource(gguf);
    const roundTrip = await openHfFolder(back);
    try {
      expect(viaGguf.config).toMatchObject({ ropeLayout: 'adjacent', headDim: 6 });
      await sameTensors(viaGguf, original, (name, data) => {
        const shape = original.tensors.get(name)!.shape;
        if (name.includes('.attn_q.'))
          return permuteRopeRows(data, shape, base.numHeads, 'halfSplit', 'adjacent');
        if (name.includes('.attn_k.'))
          return permuteRopeRows(data, shape, base.numKvHeads, 'halfSplit', 'adjacent');
        return data;
      });
      await sameTensors(roundTrip, original);
    } finally {
      await Promise.all([original.close(), viaGguf.close(), roundTrip.close()]);
    }
  });

  it('Llama 3 RoPE scaling becomes rope_freqs.weight in GGUF and stays rope_scaling in Hugging Face', async () => {
    const config: LlamaConfig = {
      ...base,
      headDim: 4,
      ropeScaling: { type: 'llama3', factor: 8, originalContextLength: 64 },
    };
    const hf = await hfFolder('llama3', config, 13);
    const gguf = join(dir, 'llama3.gguf');
    await convertModel(hf, gguf, { type: 'f16', tokenizerPath: tokenizer! });
    const file = await openGguf(gguf);
    try {
      expect(file.tensor('rope_freqs.weight')).toMatchObject({ ggmlType: 'F32', shape: [2] });
      expect(await file.readTensor('rope_freqs.weight')).toEqual(llama3RopeFactors(config));
      expect(file.get('llama.rope.scaling.type')).toBeUndefined();
    } finally {
      await file.close();
    }
    const hfCopy = join(dir, 'llama3-copy');
    await convertModel(hf, hfCopy, { type: 'f32' });
    const copy = await openHfFolder(hfCopy);
    expect(copy.config.ropeScaling).toEqual(config.ropeScaling);
    await copy.close();
    await expect(convertModel(gguf, join(dir, 'llama3-back'), { type: 'f32' })).rejects.toMatchObject({
      name: 'UnsupportedModelError',
    });
  });
});
