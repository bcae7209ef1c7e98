import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { ModelFileError } from '../errors.js';
import { openGguf } from './index.js';
import { openGgufWeightSource } from './index.js';
import { openHfFolder } from './index.js';
import { openLlama2cCheckpoint } from './index.js';
import type { WeightSource } from '../weight-source.js';
import { convertModel, type ConvertProgress } from './index.js';
import { detectModelFormat } from './index.js';
import { permuteRopeRows } from '../convert/rope-permutation.js';
import { castTensor } from '../convert/tensor-cast.js';

const checkpoint = modelFile('stories260K.bin');
const tokenizer = modelFile('tok512.bin');
const referenceGguf = modelFile('stories260K.gguf');
const haveModels = checkpoint !== undefined && tokenizer !== undefined && referenceGguf !== undefined;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withSource<T>(
  open: Promise<WeightSource>,
  use: (source: WeightSource) => Promise<T>,
): Promise<T> {
  const source = await open;
  try {
    return await use(source);
  } finally {
    await source.close();
  }
}

/**
 * Compares raw bytes, so -0, NaN payloads and every mantissa bit count; a byte comparison keeps
 * this fast, and only a mismatch pays for vitest's element-wise diff.
 */
function expectSameBits(
  actual: Float32Array | Uint16Array,
  expected: Float32Array | Uint16Array,
  name: string,
): void {
  expect(actual.constructor, name).toBe(expected.constructor);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (!a.equals(b)) expect([...actual], name).toEqual([...expected]);
}

/** A float tensor of a converted model (the converter writes no block types). */
async function floats(source: WeightSource, name: string): Promise<Float32Array | Uint16Array> {
  const data = await source.read(name);
  if (data instanceof Uint8Array) throw new TypeError(`${name} is block-quantized`);
  return data;
}

const isQk = (name: string): 'q' | 'k' | undefined =>
  /\.attn_q\./.test(name) ? 'q' : /\.attn_k\./.test(name) ? 'k' : undefined;

describe.skipIf(!haveModels)('convertModel on stories260K', () => {
  let hfDir: string;
  let ggufPath: string;

  beforeAll(async () => {
    hfDir = join(dir, 'stories260K-hf');
    ggufPath = join(dir, 'stories260K.gguf');
  });

  it('llama2.c → Hugging Face folder: every tensor equals the checkpoint after un-permuting Q/K', async () => {
    const progress: ConvertProgress[] = [];
    const result = await convertModel(checkpoint!, hfDir, {
      type: 'f32',
      onProgress: (p) => progress.push(p),
    });
    // No tokenizer given and a llama2.c checkpoint carries none: the folder says so by having none.
    expect(result).toMatchObject({ from: 'llama2c', to: 'hf', tensorCount: 1 + 5 * 9 + 1, tokenizerFiles: [] });
    expect(progress.map((p) => p.done)).toEqual(Array.from({ length: result.tensorCount }, (_, i) => i + 1));
    expect(progress.every((p) => p.total === result.tensorCount)).toBe(true);

    const configJson = JSON.parse(await readFile(join(hfDir, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(configJson).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      hidden_size: 64,
      intermediate_size: 172,
      num_hidden_layers: 5,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      vocab_size: 512,
      max_position_embeddings: 512,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
    });

    await withSource(openLlama2cCheckpoint(checkpoint!), async (original) =>
      withSource(openHfFolder(hfDir), async (hf) => {
        expect(hf.config).toEqual({ ...original.config, ropeLayout: 'halfSplit' });
        expect([...hf.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
        for (const [name, info] of hf.tensors) {
          const kind = isQk(name);
          const heads = kind === 'q' ? hf.config.numHeads : hf.config.numKvHeads;
          let data = await floats(hf, name);
          if (kind !== undefined) data = permuteRopeRows(data, info.shape, heads, 'halfSplit', 'adjacent');
          expectSameBits(data, await floats(original, name), name);
        }
      }),
    );
  });

  it("llama2.c → GGUF: tensors equal llama.cpp's own stories260K.gguf bit for bit, vocabulary too", async () => {
    const result = await convertModel(checkpoint!, ggufPath, { type: 'f32', tokenizerPath: tokenizer! });
    expect(result).toMatchObject({ from: 'llama2c', to: 'gguf' });
    await expectSameAsReference(ggufPath);

    const ours = await openGguf(ggufPath);
    const reference = await openGguf(referenceGguf!);
    try {
      expect(ours.version).toBe(3);
      for (const key of [
        'tokenizer.ggml.tokens',
        'tokenizer.ggml.scores',
        'tokenizer.ggml.token_type',
        'tokenizer.ggml.model',
      ]) {
        expect(ours.get(key), key).toEqual(reference.get(key));
      }
      for (const key of ['unknown_token_id', 'bos_token_id', 'eos_token_id']) {
        expect(ours.getU32(`tokenizer.ggml.${key}`), key).toBe(reference.getU32(`tokenizer.ggml.${key}`));
      }
      expect(ours.getString('general.architecture')).toBe('llama');
      expect(ours.getU32('general.file_type')).toBe(0);
      const llamaKeys = [
        'embedding_length',
        'block_count',
        'feed_forward_length',
        'rope.dimension_count',
        'attention.head_count',
        'attention.head_count_kv',
      ];
      for (const key of llamaKeys)
        expect(ours.getU32(`llama.${key}`), key).toBe(reference.getU32(`llama.${key}`));
      expect(ours.getF32('llama.attention.layer_norm_rms_epsilon')).toBe(
        reference.getF32('llama.attention.layer_norm_rms_epsilon'),
      );
      expect(ours.getU32('llama.vocab_size')).toBe(512);
      expect(ours.getU32('llama.context_length')).toBe(512);
      expect(ours.getF32('llama.rope.freq_base')).toBe(10000);
    } finally {
      await ours.close();
      await reference.close();
    }
  });

  it("Hugging Face folder → GGUF applies llama.cpp's Q/K permutation: tensors equal stories260K.gguf", async () => {
    const fromHf = join(dir, 'from-hf.gguf');
    await convertModel(hfDir, fromHf, { type: 'f32', tokenizerPath: tokenizer! });
    await expectSameAsReference(fromHf);
  });

  it('GGUF → Hugging Face folder equals the folder converted from llama2.c', async () => {
    const fromGguf = join(dir, 'from-gguf-hf');
    const result = await convertModel(referenceGguf!, fromGguf, { type: 'f32' });
    expect(result.from).toBe('gguf');
    await withSource(openHfFolder(fromGguf), async (a) =>
      withSource(openHfFolder(hfDir), async (b) => {
        // llama.cpp's file has a separate output.weight (a copy of the embedding), context 2048 and
        // its epsilon as an f32.
        expect(a.config).toEqual({
          ...b.config,
          contextLength: 2048,
          tiedEmbeddings: false,
          rmsNormEps: Math.fround(1e-5),
        });
        for (const name of b.tensors.keys()) expectSameBits(await floats(a, name), await floats(b, name), name);
        expectSameBits(await floats(a, 'output.weight'), await floats(b, 'token_embd.weight'), 'output.weight');
      }),
    );
  });

  it('GGUF → GGUF carries the vocabulary over', async () => {
    const copy = join(dir, 'copy.gguf');
    await convertModel(referenceGguf!, copy, { type: 'f32', name: 'stories' });
    await expectSameAsReference(copy);
    const file = await openGguf(copy);
    try {
      expect(file.getString('general.name')).toBe('stories');
      expect(file.getStringArray('tokenizer.ggml.tokens')?.length).toBe(512);
    } finally {
      await file.close();
    }
  });

  it('--type f16 stores 2-D weights as f16 (rounded to nearest even) and keeps norms f32', async () => {
    const f16Gguf = join(dir, 'f16.gguf');
    const f16Hf = join(dir, 'f16-hf');
    await convertModel(checkpoint!, f16Gguf, { type: 'f16', tokenizerPath: tokenizer! });
    await convertModel(checkpoint!, f16Hf, { type: 'f16' });
    const file = await openGguf(f16Gguf);
    expect(file.getU32('general.file_type')).toBe(1);
    await file.close();
    const configJson = JSON.parse(await readFile(join(f16Hf, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(configJson['torch_dtype']).toBe('float16');

    await withSource(openLlama2cCheckpoint(checkpoint!), async (original) =>
      withSource(openGgufWeightSource(f16Gguf), async (gguf) =>
        withSource(openHfFolder(f16Hf), async (hf) => {
          for (const [name, info] of original.tensors) {
            const expectedDtype = info.shape.length >= 2 ? 'f16' : 'f32';
            const expected = castTensor(await floats(original, name), 'f32', expectedDtype);
            expect(gguf.tensors.get(name)?.dtype, name).toBe(expectedDtype);
            expectSameBits(await floats(gguf, name), expected, name);
            expect(hf.tensors.get(name)?.dtype, name).toBe(expectedDtype);
            const kind = isQk(name);
            let hfData = await floats(hf, name);
            if (kind !== undefined) {
              const heads = kind === 'q' ? hf.config.numHeads : hf.config.numKvHeads;
              hfData = permuteRopeRows(hfData, info.shape, heads, 'halfSplit', 'adjacent');
            }
            expectSameBits(hfData, expected, name);
          }
        }),
      ),
    );
  });

  it('refuses GGUF output without a vocabulary, and a vocabulary of the wrong size', async () => {
    await expect(
      convertModel(checkpoint!, join(dir, 'no-vocab.gguf'), { type: 'f32' }),
    ).rejects.toMatchObject({
      name: 'ModelConvertError',
    });
    // Llama 2's 32000-token vocabulary, copied from a vocabulary-only GGUF, cannot serve a 512-row embedding.
    const vocabGguf = modelFile('vocab/ggml-vocab-llama-spm.gguf');
    if (vocabGguf !== undefined) {
      await expect(
        convertModel(checkpoint!, join(dir, 'wrong-vocab.gguf'), { type: 'f32', tokenizerPath: vocabGguf }),
      ).rejects.toMatchObject({
        name: 'ModelConvertError',
        message: expect.stringContaining('32000 tokens') as unknown,
      });
    }
  });
});

describe('detectModelFormat and input errors', () => {
  it('detects GGUF by magic, llama2.c by header and Hugging Face by config.json', async () => {
    if (referenceGguf !== undefined)
      expect(await detectModelFormat(referenceGguf)).toMatchObject({ format: 'gguf' });
    if (checkpoint !== undefined)
      expect(await detectModelFormat(checkpoint)).toMatchObject({ format: 'llama2c' });
    const hf = join(dir, 'detect-hf');
    await rm(hf, { recursive: true, force: true });
    await mkdir(hf);
    await writeFile(join(hf, 'config.json'), '{}');
    await writeFile(join(hf, 'model.safetensors'), '');
    expect(await detectModelFormat(hf)).toEqual({ format: 'hf', path: hf });
    expect(await detectModelFormat(join(hf, 'model.safetensors'))).toEqual({ format: 'hf', path: hf });
  });

  it('refuses unrecognised, missing and misnamed inputs with typed errors', async () => {
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'hello, this is not a model at all');
    for (const input of [text, join(dir, 'absent.gguf'), dir]) {
      await expect(convertModel(input, join(dir, 'out.gguf'), { type: 'f32' })).rejects.toBeInstanceOf(
        ModelFileError,
      );
    }
    if (checkpoint !== undefined) {
      await expect(convertModel(checkpoint, text, { type: 'f32' })).rejects.toMatchObject({
        name: 'ModelConvertError',
      });
    }
  });
});

async function expectSameAsReference(path: string): Promise<void> {
  await withSource(openGgufWeightSource(path), async (ours) =>
    withSource(openGgufWeightSource(referenceGguf!), async (reference) => {
      expect(ours.config.ropeLayout).toBe('adjacent');
      for (const [name, info] of ours.tensors) {
        expect(info, name).toEqual(reference.tensors.get(name));
        expectSameBits(await floats(ours, name), await floats(reference, name), name);
      }
      // Tied in ours, a copy of the embedding in llama.cpp's file.
      if (!ours.tensors.has('output.weight')) {
        expectSameBits(
          await floats(ours, 'token_embd.weight'),
          await floats(reference, 'output.weight'),
          'output.weight',
        );
      }
      expect(ours.tensors.size).toBe(reference.tensors.size - (ours.tensors.has('output.weight') ? 0 : 1));
    }),
  );
}
