import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GgufFormatError } from '../errors.js';
import { openGguf } from '../node/index.js';
import { openGgufWeightSource } from '../node/index.js';
import { dequantize, f16ArrayToF32, quantize } from '@llm/quant';
import { normalQuantile } from './normal-table.js';
import { SeededRandom } from './seeded-random.js';
import { llama31RopeFactors, llama3RopeFreqFactors, syntheticVocabulary } from './synthetic-llama.js';
import { writeSyntheticLlamaGguf } from '../node/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synthetic-'));
});

function stats(values: Float32Array): { mean: number; std: number } {
  let sum = 0;
  let sq = 0;
  for (const v of values) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(sq / values.length - mean * mean) };
}

describe('writeSyntheticLlamaGguf', () => {
  it('writes a llama GGUF whose metadata, tokenizer and tensors load as the returned config', async () => {
    const path = join(dir, 'tiny.gguf');
    const result = await writeSyntheticLlamaGguf(path, { seed: 7 });
    const source = await openGgufWeightSource(path);
    try {
      expect(source.config).toEqual(result.config);
      expect(source.config).toMatchObject({ dim: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 512 });
      expect(source.tensors.get('output.weight')?.dtype).toBe('f32');
    } finally {
      await source.close();
    }
    const f = await openGguf(path);
    try {
      expect(f.getString('tokenizer.ggml.model')).toBe('llama');
      expect(f.getU32('general.file_type')).toBe(0);
      expect(f.getU32('tokenizer.ggml.bos_token_id')).toBe(1);
      expect(f.getU32('tokenizer.ggml.eos_token_id')).toBe(2);
      const tokens = f.getStringArray('tokenizer.ggml.tokens')!;
      expect(tokens).toHaveLength(512);
      expect(f.getFloat32Array('tokenizer.ggml.scores')).toHaveLength(512);
      expect(f.getInt32Array('tokenizer.ggml.token_type')).toHaveLength(512);
    } finally {
      await f.close();
    }
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const a = join(dir, 'a.gguf');
    const b = join(dir, 'b.gguf');
    const c = join(dir, 'c.gguf');
    await writeSyntheticLlamaGguf(a, { seed: 3, numLayers: 1 });
    await writeSyntheticLlamaGguf(b, { seed: 3, numLayers: 1 });
    await writeSyntheticLlamaGguf(c, { seed: 4, numLayers: 1 });
    const [ba, bb, bc] = await Promise.all([readFile(a), readFile(b), readFile(c)]);
    expect(ba.equals(bb)).toBe(true);
    expect(ba.equals(bc)).toBe(false);
    expect(ba.length).toBe(bc.length);
  });

  it('draws weights at the documented scales', async () => {
    const path = join(dir, 'scales.gguf');
    await writeSyntheticLlamaGguf(path, {
      seed: 11,
      dim: 128,
      hiddenDim: 256,
      numHeads: 4,
      numKvHeads: 4,
      numLayers: 1,
    });
    const source = await openGgufWeightSource(path);
    try {
      const embedding = stats((await source.read('token_embd.weight')) as Float32Array);
      expect(Math.abs(embedding.mean)).toBeLessThan(0.01);
      expect(embedding.std).toBeCloseTo(6 / Math.sqrt(128), 2);
      const q = stats((await source.read('blk.0.attn_q.weight')) as Float32Array);
      expect(q.std).toBeCloseTo(1 / Math.sqrt(128), 2);
      const norm = stats((await source.read('blk.0.attn_norm.weight')) as Float32Array);
      expect(norm.mean).toBeCloseTo(1, 1);
      expect(norm.std).toBeGreaterThan(0.005);
      expect(norm.std).toBeLessThan(0.05);
    } finally {
      await source.close();
    }
  });

  it('block-quantizes the matrices of the f32 draws: Q4_K with a Q6_K output, the float type where rows are not whole super-blocks', async () => {
    const exact = join(dir, 'q-f32.gguf');
    const path = join(dir, 'q4km.gguf');
    const shape = { dim: 256, hiddenDim: 96, numHeads: 4, numKvHeads: 2, seed: 3, progress: false } as const;
    await writeSyntheticLlamaGguf(exact, shape);
    await writeSyntheticLlamaGguf(path, { ...shape, quantize: { matrices: 'q4_k', output: 'q6_k' } });
    const a = await openGgufWeightSource(exact);
    const b = await openGgufWeightSource(path);
    try {
      expect(b.config).toEqual(a.config);
      expect(b.tensors.get('output.weight')?.dtype).toBe('q6_k');
      expect(b.tensors.get('token_embd.weight')?.dtype).toBe('q4_k');
      expect(b.tensors.get('blk.0.attn_q.weight')?.dtype).toBe('q4_k');
      // ffn_down's rows are 96 values: not whole 256-value super-blocks, so they stay f32.
      expect(b.tensors.get('blk.0.ffn_down.weight')?.dtype).toBe('f32');
      expect(b.tensors.get('blk.0.ffn_norm.weight')?.dtype).toBe('f32');
      const want = (await a.read('blk.1.attn_q.weight')) as Float32Array;
      expect(dequantize('q4_k', (await b.read('blk.1.attn_q.weight')) as Uint8Array, want.length)).toEqual(
        dequantize('q4_k', quantize('q4_k', want), want.length),
      );
    } finally {
      await a.close();
      await b.close();
    }
    const f = await openGguf(path);
    expect(f.getU32('general.file_type')).toBe(15);
    await f.close();
  });

  it('fills matrices with blocks drawn from a pool of quantized blocks when blockPool is set: same scale, repeatable', async () => {
    const shape = { dim: 256, hiddenDim: 512, numHeads: 4, numKvHeads: 2, seed: 5, progress: false } as const;
    const quantize = { matrices: 'q4_k', output: 'q6_k', blockPool: 64 } as const;
    const first = join(dir, 'pool-1.gguf');
    const second = join(dir, 'pool-2.gguf');
    await writeSyntheticLlamaGguf(first, { ...shape, quantize });
    await writeSyntheticLlamaGguf(second, { ...shape, quantize });
    expect(await readFile(second)).toEqual(await readFile(first));
    const b = await openGgufWeightSource(first);
    try {
      expect(b.tensors.get('output.weight')?.dtype).toBe('q6_k');
      const q = b.tensors.get('blk.0.ffn_down.weight')!;
      expect(q.dtype).toBe('q4_k');
      const values = dequantize('q4_k', (await b.read('blk.0.ffn_down.weight')) as Uint8Array, 256 * 512);
      // Blocks from the pool: the scale of ffn_down's draws (0.67 * 6 / sqrt(256) / sqrt(512)).
      const { std } = stats(values);
      expect(std).toBeGreaterThan(0.0111 * 0.8);
      expect(std).toBeLessThan(0.0111 * 1.2);
      // Rows are not copies of one another: the pool's blocks are picked at random.
      expect(values.subarray(0, 256)).not.toEqual(values.subarray(256, 512));
    } finally {
      await b.close();
    }
  });

  it('writes F16 matrices with F32 norms, a tied embedding and a separate head dimension', async () => {
    const path = join(dir, 'f16.gguf');
    await writeSyntheticLlamaGguf(path, {
      dtype: 'f16',
      tiedEmbeddings: true,
      headDim: 24,
      numHeads: 4,
      numKvHeads: 1,
    });
    const source = await openGgufWeightSource(path);
    try {
      expect(source.config).toMatchObject({ headDim: 24, tiedEmbeddings: true, numKvHeads: 1 });
      expect(source.tensors.has('output.weight')).toBe(false);
      expect(source.tensors.get('blk.1.attn_q.weight')).toMatchObject({ dtype: 'f16', shape: [96, 64] });
      expect(source.tensors.get('blk.1.attn_norm.weight')?.dtype).toBe('f32');
      const k = f16ArrayToF32((await source.read('blk.0.attn_k.weight')) as Uint16Array);
      expect(stats(k).std).toBeCloseTo(1 / 8, 1);
    } finally {
      await source.close();
    }
    const f = await openGguf(path);
    expect(f.getU32('general.file_type')).toBe(1);
    expect(f.getU32('llama.attention.key_length')).toBe(24);
    await f.close();
  });

  it('writes qwen2 with qwen2.* keys, F32 Q/K/V biases and half-split RoPE', async () => {
    const path = join(dir, 'qwen2.gguf');
    const result = await writeSyntheticLlamaGguf(path, { architecture: 'qwen2', dtype: 'f16', seed: 5 });
    expect(result.config).toMatchObject({ architecture: 'qwen2', ropeLayout: 'halfSplit', qkvBias: true });
    const source = await openGgufWeightSource(path);
    try {
      expect(source.config).toEqual(result.config);
      expect(source.tensors.get('blk.1.attn_q.bias')).toMatchObject({ dtype: 'f32', shape: [64] });
      expect(source.tensors.get('blk.1.attn_k.bias')).toMatchObject({ dtype: 'f32', shape: [32] });
      expect(source.tensors.get('blk.1.attn_v.bias')).toMatchObject({ dtype: 'f32', shape: [32] });
      const bias = stats((await source.read('blk.0.attn_q.bias')) as Float32Array);
      expect(bias.std).toBeGreaterThan(0.3);
      expect(bias.std).toBeLessThan(0.7);
    } finally {
      await source.close();
    }
    const f = await openGguf(path);
    try {
      expect(f.getString('general.architecture')).toBe('qwen2');
      expect(f.getU32('qwen2.embedding_length')).toBe(64);
      expect(f.getU32('llama.embedding_length')).toBeUndefined();
      expect(f.getString('tokenizer.ggml.model')).toBe('llama');
    } finally {
      await f.close();
    }
  });

  it('writes linear RoPE scaling as rope.scaling.type and factor', async () => {
    const path = join(dir, 'linear.gguf');
    const result = await writeSyntheticLlamaGguf(path, { ropeScaling: { type: 'linear', factor: 4 } });
    expect(result.config.ropeScaling).toEqual({ type: 'linear', factor: 4 });
    const source = await openGgufWeightSource(path);
    expect(source.config).toEqual(result.config);
    await source.close();
    const f = await openGguf(path);
    expect(f.getString('llama.rope.scaling.type')).toBe('linear');
    expect(f.getF32('llama.rope.scaling.factor')).toBe(4);
    await f.close();
  });

  it('appends rope_freqs.weight without changing the other tensors', async () => {
    const plain = join(dir, 'plain.gguf');
    const withFactors = join(dir, 'factors.gguf');
    await writeSyntheticLlamaGguf(plain, { seed: 9, ropeTheta: 500000 });
    const result = await writeSyntheticLlamaGguf(withFactors, {
      seed: 9,
      ropeTheta: 500000,
      ropeFreqFactors: llama31RopeFactors,
    });
    const [a, b] = await Promise.all([openGgufWeightSource(plain), openGgufWeightSource(withFactors)]);
    try {
      expect(b.config).toEqual(result.config);
      expect(b.tensors.get('rope_freqs.weight')).toMatchObject({ dtype: 'f32', shape: [8] });
      expect(await b.read('rope_freqs.weight')).toEqual(
        llama3RopeFreqFactors(16, 500000, llama31RopeFactors),
      );
      expect(await b.read('blk.1.ffn_down.weight')).toEqual(await a.read('blk.1.ffn_down.weight'));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses impossible shapes with a typed error', async () => {
    const path = join(dir, 'bad.gguf');
    await expect(writeSyntheticLlamaGguf(path, { architecture: 'qwen2', headDim: 32 })).rejects.toThrow(
      /qwen2 needs/,
    );
    await expect(
      writeSyntheticLlamaGguf(path, { architecture: 'qwen2', ropeFreqFactors: llama31RopeFactors }),
    ).rejects.toThrow(/llama.cpp's qwen2 loads none/);
    await expect(
      writeSyntheticLlamaGguf(path, { ropeScaling: { type: 'linear', factor: 0 } }),
    ).rejects.toThrow(GgufFormatError);
    await expect(writeSyntheticLlamaGguf(path, { numHeads: 4, numKvHeads: 3 })).rejects.toThrow(GgufFormatError);
    await expect(writeSyntheticLlamaGguf(path, { dim: 60, numHeads: 8 })).rejects.toThrow(/headDim is 7.5/);
    await expect(writeSyntheticLlamaGguf(path, { vocabSize: 100 })).rejects.toThrow(/vocabSize 100/);
  });
});

describe('syntheticVocabulary', () => {
  it('holds specials, the 256 byte tokens and unique filler pieces', () => {
    const { tokens, scores, types } = syntheticVocabulary(32000);
    expect(tokens).toHaveLength(32000);
    expect(new Set(tokens).size).toBe(32000);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tokens[3 + 0x0a]).toBe('<0x0A>');
    expect(tokens[258]).toBe('<0xFF>');
    expect(tokens.slice(259, 263)).toEqual(['▁', 'a', 'b', 'c']);
    expect(Array.from(types.slice(0, 4))).toEqual([2, 3, 3, 6]);
    expect(types[259]).toBe(1);
    expect(scores[259]).toBeGreaterThan(scores[31999]!);
  });
});

describe('llama3RopeFreqFactors', () => {
  it("reproduces Llama 3.1 8B's divisors: 1 below wavelength 2048, 8 above 8192, rising between", () => {
    const factors = Array.from(llama3RopeFreqFactors(128, 500000, llama31RopeFactors));
    expect(factors).toHaveLength(64);
    // 2 pi 500000^(i/64) crosses 2048 between i = 28 and 29 and 8192 between i = 34 and 35.
    expect(factors.slice(0, 29).every((f) => f === 1)).toBe(true);
    expect(factors.slice(35).every((f) => f === 8)).toBe(true);
    const blended = factors.slice(29, 35);
    expect(blended.every((f, i) => f > 1 && f < 8 && (i === 0 || f > blended[i - 1]!))).toBe(true);
  });
});

describe('SeededRandom', () => {
  it('gives uniform floats and standard normals', () => {
    const random = new SeededRandom(42);
    const uniforms = Float32Array.from({ length: 20000 }, () => random.nextFloat());
    expect(stats(uniforms).mean).toBeCloseTo(0.5, 1);
    expect(Math.min(...uniforms)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...uniforms)).toBeLessThan(1);
    const normals = Float32Array.from({ length: 20000 }, () => random.nextNormal());
    const s = stats(normals);
    expect(Math.abs(s.mean)).toBeLessThan(0.03);
    expect(s.std).toBeCloseTo(1, 1);
  });

  it('inverts the normal CDF', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  });
});
