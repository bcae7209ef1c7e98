import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { GgufFormatError, UnsupportedModelError } from '../errors.js';
import { openGguf } from '../node/index.js';
import { ggufValue, type GgufValue } from './gguf-value.js';
import { llamaConfigFromGguf } from './gguf-weight-source.js';
import { openGgufWeightSource } from '../node/index.js';
import { writeGguf } from '../node/index.js';
import { type GgufTensorToWrite } from './gguf-writer.js';
import { dequantize, quantize, type BlockDtype } from '@llm/quant';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gguf-source-'));
});

interface TinyOptions {
  arch?: string;
  dim?: number;
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  hidden?: number;
  layers?: number;
  vocab?: number;
  tied?: boolean;
  bias?: boolean;
  dtype?: 'f32' | 'f16' | 'bf16';
  /** Block types for matrices by name suffix (`ffn_down.weight`; the first match wins), quantized from the f32 values. */
  blockTypes?: Record<string, BlockDtype>;
  extraMetadata?: Record<string, GgufValue>;
  extraTensors?: GgufTensorToWrite[];
  drop?: string;
}

let counter = 0;
/** A small Llama-family GGUF with patterned (never all-zero) weights. */
async function tinyModel(o: TinyOptions = {}): Promise<string> {
  const arch = o.arch ?? 'llama';
  const dim = o.dim ?? 16;
  const heads = o.heads ?? 4;
  const kvHeads = o.kvHeads ?? 2;
  const headDim = o.headDim ?? dim / heads;
  const hidden = o.hidden ?? 24;
  const layers = o.layers ?? 2;
  const vocab = o.vocab ?? 40;
  const dtype = o.dtype ?? 'f32';
  const tensors: GgufTensorToWrite[] = [];
  const add = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'f32'
        ? Float32Array.from({ length: n }, (_, i) => Math.sin(i + tensors.length))
        : Uint16Array.from({ length: n }, (_, i) => 0x3c00 + ((i * 7 + tensors.length) % 512));
    const block =
      shape.length === 2 ? Object.entries(o.blockTypes ?? {}).find(([suffix]) => name.endsWith(suffix))?.[1] : undefined;
    if (name === o.drop) return;
    if (block) {
      const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i + tensors.length));
      tensors.push({ name, dtype: block, shape, data: quantize(block, values) });
    } else {
      tensors.push({ name, dtype, shape, data });
    }
  };
  add('token_embd.weight', [vocab, dim]);
  add('output_norm.weight', [dim]);
  if (!o.tied) add('output.weight', [vocab, dim]);
  for (let l = 0; l < layers; l++) {
    add(`blk.${l}.attn_norm.weight`, [dim]);
    add(`blk.${l}.attn_q.weight`, [heads * headDim, dim]);
    add(`blk.${l}.attn_k.weight`, [kvHeads * headDim, dim]);
    add(`blk.${l}.attn_v.weight`, [kvHeads * headDim, dim]);
    add(`blk.${l}.attn_output.weight`, [dim, heads * headDim]);
    if (o.bias) {
      add(`blk.${l}.attn_q.bias`, [heads * headDim]);
      add(`blk.${l}.attn_k.bias`, [kvHeads * headDim]);
      add(`blk.${l}.attn_v.bias`, [kvHeads * headDim]);
    }
    add(`blk.${l}.ffn_norm.weight`, [dim]);
    add(`blk.${l}.ffn_gate.weight`, [hidden, dim]);
    add(`blk.${l}.ffn_up.weight`, [hidden, dim]);
    add(`blk.${l}.ffn_down.weight`, [dim, hidden]);
  }
  tensors.push(...(o.extraTensors ?? []));
  const metadata: Record<string, GgufValue> = {
    'general.architecture': ggufValue.string(arch),
    [`${arch}.embedding_length`]: ggufValue.u32(dim),
    [`${arch}.feed_forward_length`]: ggufValue.u32(hidden),
    [`${arch}.block_count`]: ggufValue.u32(layers),
    [`${arch}.context_length`]: ggufValue.u32(256),
    [`${arch}.attention.head_count`]: ggufValue.u32(heads),
    [`${arch}.attention.head_count_kv`]: ggufValue.u32(kvHeads),
    [`${arch}.attention.layer_norm_rms_epsilon`]: ggufValue.f32(1e-6),
    [`${arch}.rope.freq_base`]: ggufValue.f32(1e6),
    ...(o.headDim === undefined
      ? {}
      : {
          [`${arch}.attention.key_length`]: ggufValue.u32(headDim),
          [`${arch}.attention.value_length`]: ggufValue.u32(headDim),
        }),
    ...o.extraMetadata,
  };
  const path = join(dir, `tiny-${counter++}.gguf`);
  await writeGguf(path, { metadata, tensors });
  return path;
}

describe('ggufWeightSource', () => {
  it.runIf(modelFile('stories260K.gguf'))('maps stories260K.gguf to a LlamaConfig', async () => {
    const source = await openGgufWeightSource(modelFile('stories260K.gguf')!);
    try {
      expect(source.config).toEqual({
        architecture: 'llama',
        vocabSize: 512,
        dim: 64,
        hiddenDim: 172,
        numLayers: 5,
        numHeads: 8,
        numKvHeads: 4,
        headDim: 8,
        contextLength: 2048,
        rmsNormEps: Math.fround(1e-5),
        ropeTheta: 10000,
        ropeLayout: 'adjacent',
        ropeScaling: { type: 'none', factor: 1 },
        tiedEmbeddings: false,
        qkvBias: false,
      });
      expect(source.tensors.get('token_embd.weight')).toEqual({
        name: 'token_embd.weight',
        dtype: 'f32',
        shape: [512, 64],
        byteLength: 512 * 64 * 4,
      });
    } finally {
      await source.close();
    }
  });

  it.runIf(modelFile('synthetic/gqa-d128-f32.gguf'))('loads a GGUF from an independent writer', async () => {
    const source = await openGgufWeightSource(modelFile('synthetic/gqa-d128-f32.gguf')!);
    try {
      expect(source.config).toMatchObject({
        dim: 128,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 32,
        hiddenDim: 384,
        numLayers: 2,
      });
      expect(source.config.contextLength).toBe(1024);
      expect((await source.read('blk.1.attn_k.weight')).length).toBe(64 * 128);
    } finally {
      await source.close();
    }
  });

  it.runIf(modelFile('synthetic/gqa-d128-q8_0.gguf') && modelFile('synthetic/gqa-d128-f32.gguf'))(
    'opens a Q8_0 file from an independent writer and reads its blocks, which decode close to the F32 file',
    async () => {
      const q8 = await openGgufWeightSource(modelFile('synthetic/gqa-d128-q8_0.gguf')!);
      const f32 = await openGgufWeightSource(modelFile('synthetic/gqa-d128-f32.gguf')!);
      try {
        expect(q8.config).toEqual(f32.config);
        const info = q8.tensors.get('token_embd.weight')!;
        expect(info).toMatchObject({ dtype: 'q8_0', shape: [512, 128], byteLength: (512 * 128 * 34) / 32 });
        expect(q8.tensors.get('output_norm.weight')?.dtype).toBe('f32');
        const blocks = await q8.read('token_embd.weight');
        expect(blocks).toBeInstanceOf(Uint8Array);
        const decoded = dequantize('q8_0', blocks as Uint8Array, 512 * 128);
        const exact = (await f32.read('token_embd.weight')) as Float32Array;
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < exact.length; i++) {
          worst = Math.max(worst, Math.abs(decoded[i]! - exact[i]!));
          scale = Math.max(scale, Math.abs(exact[i]!));
        }
        // Q8_0 rounds each value to one of 255 steps of its block's absmax.
        expect(worst).toBeLessThanOrEqual(scale / 127);
        expect(worst).toBeGreaterThan(0);
      } finally {
        await q8.close();
        await f32.close();
      }
    },
  );

  it('opens a file that mixes block types, written by the GGUF writer from quantize()', async () => {
    const blockTypes = { 'token_embd.weight': 'q8_0', 'attn_v.weight': 'q6_k', 'ffn_down.weight': 'q5_k', '.weight': 'q4_k' } as const;
    // Every matrix's rows must be whole 256-element super-blocks for the K-quants.
    const path = await tinyModel({ dim: 256, heads: 4, kvHeads: 2, hidden: 256, blockTypes });
    const source = await openGgufWeightSource(path);
    try {
      expect(source.tensors.get('token_embd.weight')?.dtype).toBe('q8_0');
      expect(source.tensors.get('blk.0.attn_q.weight')?.dtype).toBe('q4_k');
      expect(source.tensors.get('blk.1.attn_v.weight')?.dtype).toBe('q6_k');
      expect(source.tensors.get('blk.1.ffn_down.weight')?.dtype).toBe('q5_k');
      expect(source.tensors.get('blk.1.ffn_norm.weight')?.dtype).toBe('f32');
      const down = await source.read('blk.1.ffn_down.weight');
      expect(down).toBeInstanceOf(Uint8Array);
      expect(down.length).toBe((256 * 256 * 176) / 256);
      const values = dequantize('q5_k', down as Uint8Array, 256 * 256);
      expect(values.some((v) => v !== 0)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('maps qwen2 to half-split RoPE with QKV biases', async () => {
    const source = await openGgufWeightSource(await tinyModel({ arch: 'qwen2', bias: true, tied: true }));
    try {
      expect(source.config).toMatchObject({
        architecture: 'qwen2',
        ropeLayout: 'halfSplit',
        qkvBias: true,
        tiedEmbeddings: true,
        ropeTheta: 1e6,
        rmsNormEps: Math.fround(1e-6),
        vocabSize: 40,
      });
      expect(source.tensors.get('blk.1.attn_k.bias')?.shape).toEqual([8]);
    } finally {
      await source.close();
    }
  });

  it('maps mistral like llama', async () => {
    const source = await openGgufWeightSource(await tinyModel({ arch: 'mistral' }));
    expect(source.config.ropeLayout).toBe('adjacent');
    await source.close();
  });

  it('takes the head dimension from key_length when heads * headDim != dim', async () => {
    const source = await openGgufWeightSource(await tinyModel({ dim: 16, heads: 4, kvHeads: 1, headDim: 6 }));
    expect(source.config.headDim).toBe(6);
    expect(source.tensors.get('blk.0.attn_q.weight')?.shape).toEqual([24, 16]);
    expect(source.tensors.get('blk.0.attn_output.weight')?.shape).toEqual([16, 24]);
    await source.close();
  });

  it('reads F16 and BF16 tensors as Uint16Array bits', async () => {
    for (const dtype of ['f16', 'bf16'] as const) {
      const source = await openGgufWeightSource(await tinyModel({ dtype }));
      const t = await source.read('blk.0.ffn_up.weight');
      expect(t).toBeInstanceOf(Uint16Array);
      expect(t.length).toBe(24 * 16);
      expect(source.tensors.get('blk.0.ffn_up.weight')?.dtype).toBe(dtype);
      await source.close();
    }
  });

  it('passes rope_freqs.weight through and reads rope scaling', async () => {
    const freqs = Float32Array.from({ length: 2 }, (_, i) => 1 + i);
    const path = await tinyModel({
      extraTensors: [{ name: 'rope_freqs.weight', dtype: 'f32', shape: [2], data: freqs }],
      extraMetadata: {
        'llama.rope.scaling.type': ggufValue.string('linear'),
        'llama.rope.scaling.factor': ggufValue.f32(4),
        'llama.rope.scaling.original_context_length': ggufValue.u32(64),
      },
    });
    const source = await openGgufWeightSource(path);
    expect(await source.read('rope_freqs.weight')).toEqual(freqs);
    expect(source.config.ropeScaling).toEqual({ type: 'linear', factor: 4, originalContextLength: 64 });
    await source.close();
  });

  it('accepts per-layer hyperparameter arrays when every layer agrees', async () => {
    const path = await tinyModel({
      extraMetadata: { 'llama.feed_forward_length': ggufValue.i32Array([24, 24]) },
    });
    const f = await openGguf(path);
    expect(llamaConfigFromGguf(f).hiddenDim).toBe(24);
    await f.close();
    const uneven = await tinyModel({
      extraMetadata: { 'llama.feed_forward_length': ggufValue.i32Array([24, 32]) },
    });
    await expect(openGgufWeightSource(uneven)).rejects.toThrow(UnsupportedModelError);
  });

  it('refuses unsupported architectures, missing keys, missing tensors and wrong shapes', async () => {
    await expect(openGgufWeightSource(await tinyModel({ arch: 'gpt2' }))).rejects.toThrow(
      /architecture gpt2 is not supported/,
    );
    await expect(
      openGgufWeightSource(
        await tinyModel({ extraMetadata: { 'llama.rope.scaling.type': ggufValue.string('longrope') } }),
      ),
    ).rejects.toThrow(UnsupportedModelError);
    await expect(openGgufWeightSource(await tinyModel({ drop: 'blk.1.ffn_down.weight' }))).rejects.toThrow(
      /tensor blk.1.ffn_down.weight is missing/,
    );
    await expect(
      openGgufWeightSource(
        await tinyModel({ extraMetadata: { 'llama.feed_forward_length': ggufValue.u32(20) } }),
      ),
    ).rejects.toThrow(/blk.0.ffn_gate.weight has shape \[24, 16\], expected \[20, 16\]/);
    await expect(
      openGgufWeightSource(
        await tinyModel({ extraMetadata: { 'llama.block_count': ggufValue.string('2') } }),
      ),
    ).rejects.toThrow(GgufFormatError);
  });
});
