import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../synthetic/seeded-random.js';
import { writeSafetensors } from '../node/index.js';
import { type SafetensorsTensorSource } from '../safetensors/safetensors-writer.js';
import { ModelFileError, UnsupportedModelError } from '../errors.js';
import { HfFormatError } from './hf-format-error.js';
import { openHfFolder } from '../node/index.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hf-folder-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const seed = 20240611;
const baseConfig = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  vocab_size: 11,
  tie_word_embeddings: false,
  torch_dtype: 'float32',
};

const random = new SeededRandom(seed);
function randomF32(count: number): Float32Array {
  return Float32Array.from({ length: count }, () => 4 * random.nextFloat() - 2);
}

/** Hugging Face tensors, named as transformers names them, for a config shaped like baseConfig. */
function hfTensors(
  options: { layers?: number; qkvBias?: boolean; lmHead?: boolean } = {},
): SafetensorsTensorSource[] {
  const { layers = 2, qkvBias = false, lmHead = true } = options;
  const shapes: Array<[string, number[]]> = [['model.embed_tokens.weight', [11, 16]]];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    shapes.push(
      [`${p}.input_layernorm.weight`, [16]],
      [`${p}.self_attn.q_proj.weight`, [16, 16]],
      [`${p}.self_attn.k_proj.weight`, [8, 16]],
      [`${p}.self_attn.v_proj.weight`, [8, 16]],
      [`${p}.self_attn.o_proj.weight`, [16, 16]],
      [`${p}.post_attention_layernorm.weight`, [16]],
      [`${p}.mlp.gate_proj.weight`, [24, 16]],
      [`${p}.mlp.up_proj.weight`, [24, 16]],
      [`${p}.mlp.down_proj.weight`, [16, 24]],
      [`${p}.self_attn.rotary_emb.inv_freq`, [2]],
    );
    if (qkvBias) {
      shapes.push(
        [`${p}.self_attn.q_proj.bias`, [16]],
        [`${p}.self_attn.k_proj.bias`, [8]],
        [`${p}.self_attn.v_proj.bias`, [8]],
      );
    }
  }
  shapes.push(['model.norm.weight', [16]]);
  if (lmHead) shapes.push(['lm_head.weight', [11, 16]]);
  return shapes.map(([name, shape]) => ({
    name,
    dtype: 'f32',
    shape,
    data: randomF32(shape.reduce((a, b) => a * b, 1)),
  }));
}

let folderCount = 0;
async function folder(
  config: unknown,
  tensors: SafetensorsTensorSource[] | 'none' = hfTensors(),
): Promise<string> {
  const dir = join(root, `model-${folderCount++}`);
  await mkdir(dir);
  if (config !== undefined) await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  if (tensors !== 'none') await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  return dir;
}

async function openError(dir: string): Promise<ModelFileError> {
  const error: unknown = await openHfFolder(dir).then(
    async (source) => {
      await source.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelFileError);
  return error as ModelFileError;
}

describe('openHfFolder', () => {
  it('maps a Llama folder to GGUF names with the config it implies', async () => {
    const tensors = hfTensors();
    const source = await openHfFolder(await folder(baseConfig, tensors));
    try {
      expect(source.config).toEqual({
        architecture: 'llama',
        vocabSize: 11,
        dim: 16,
        hiddenDim: 24,
        numLayers: 2,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 4,
        contextLength: 128,
        rmsNormEps: 1e-5,
        ropeTheta: 10000,
        ropeLayout: 'halfSplit',
        ropeScaling: { type: 'none', factor: 1 },
        tiedEmbeddings: false,
        qkvBias: false,
      });
      expect(source.tensors.size).toBe(1 + 2 * 9 + 2);
      expect(source.tensors.get('blk.1.attn_k.weight')).toEqual({
        name: 'blk.1.attn_k.weight',
        dtype: 'f32',
        shape: [8, 16],
        byteLength: 8 * 16 * 4,
      });
      const byHfName = new Map(tensors.map((t) => [t.name, t.data]));
      const pairs: Array<[string, string]> = [
        ['token_embd.weight', 'model.embed_tokens.weight'],
        ['blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight'],
        ['blk.1.attn_output.weight', 'model.layers.1.self_attn.o_proj.weight'],
        ['blk.1.ffn_gate.weight', 'model.layers.1.mlp.gate_proj.weight'],
        ['blk.0.ffn_up.weight', 'model.layers.0.mlp.up_proj.weight'],
        ['blk.0.ffn_down.weight', 'model.layers.0.mlp.down_proj.weight'],
        ['blk.0.attn_norm.weight', 'model.layers.0.input_layernorm.weight'],
        ['blk.1.ffn_norm.weight', 'model.layers.1.post_attention_layernorm.weight'],
        ['output_norm.weight', 'model.norm.weight'],
        ['output.weight', 'lm_head.weight'],
      ];
      for (const [gguf, hf] of pairs) expect(await source.read(gguf), gguf).toEqual(byHfName.get(hf));
      await expect(source.read('rope_freqs.weight')).rejects.toBeInstanceOf(HfFormatError);
    } finally {
      await source.close();
    }
  });

  it('reads Qwen2 biases, tied embeddings, rope scaling and transformers 5 rope_parameters', async () => {
    const config = {
      ...baseConfig,
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      tie_word_embeddings: true,
      num_key_value_heads: undefined,
      head_dim: 4,
      rope_parameters: {
        rope_type: 'yarn',
        factor: 4,
        original_max_position_embeddings: 32,
        rope_theta: 1e6,
      },
    };
    // Qwen2 with 4 KV heads: rebuild k/v shapes for numKvHeads = numHeads.
    const tensors = hfTensors({ qkvBias: true, lmHead: false }).map((t) =>
      /[kv]_proj/.test(t.name)
        ? {
            ...t,
            shape: t.shape.length === 2 ? [16, 16] : [16],
            data: randomF32(t.shape.length === 2 ? 256 : 16),
          }
        : t,
    );
    const source = await openHfFolder(await folder(config, tensors));
    try {
      expect(source.config).toMatchObject({
        architecture: 'qwen2',
        numKvHeads: 4,
        qkvBias: true,
        tiedEmbeddings: true,
        ropeTheta: 1e6,
        ropeScaling: { type: 'yarn', factor: 4, originalContextLength: 32 },
      });
      expect(source.tensors.has('output.weight')).toBe(false);
      expect(source.tensors.get('blk.0.attn_v.bias')?.shape).toEqual([16]);
    } finally {
      await source.close();
    }
  });

  it('reads a sharded checkpoint through model.safetensors.index.json', async () => {
    const tensors = hfTensors();
    const dir = await folder(baseConfig, 'none');
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(join(dir, file), shard, { format: 'pt' });
      for (const t of shard) weightMap[t.name] = file;
    }
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const source = await openHfFolder(dir);
    try {
      expect(await source.read('output.weight')).toEqual(
        tensors.find((t) => t.name === 'lm_head.weight')!.data,
      );
      expect(await source.read('token_embd.weight')).toEqual(tensors[0]!.data);
    } finally {
      await source.close();
    }
  });

  it.each([
    ['a missing config.json', undefined, hfTensors(), 'config-missing'],
    ['a config.json that is not JSON', '{"hidden_size": ', hfTensors(), 'config-invalid'],
    [
      'a config without hidden_size',
      { ...baseConfig, hidden_size: undefined },
      hfTensors(),
      'config-invalid',
    ],
    ['a fractional head count', { ...baseConfig, num_attention_heads: 2.5 }, hfTensors(), 'config-invalid'],
    [
      'heads not divisible by KV heads',
      { ...baseConfig, num_key_value_heads: 3 },
      hfTensors(),
      'config-invalid',
    ],
    [
      'an unsupported architecture',
      { ...baseConfig, architectures: ['GPT2LMHeadModel'] },
      hfTensors(),
      'unsupported',
    ],
    ['GELU activations', { ...baseConfig, hidden_act: 'gelu' }, hfTensors(), 'unsupported'],
    [
      'dynamic rope scaling',
      { ...baseConfig, rope_scaling: { type: 'dynamic', factor: 2 } },
      hfTensors(),
      'unsupported',
    ],
    ['no weights file', baseConfig, 'none' as const, 'weights-missing'],
    ['a missing layer', { ...baseConfig, num_hidden_layers: 3 }, hfTensors(), 'tensor-missing'],
    [
      'a missing lm_head when embeddings are untied',
      baseConfig,
      hfTensors({ lmHead: false }),
      'tensor-missing',
    ],
    [
      'a shape that disagrees with the config',
      { ...baseConfig, intermediate_size: 20 },
      hfTensors(),
      'tensor-shape',
    ],
  ])('refuses %s with a typed error', async (_, config, tensors, problem) => {
    const dir = await folder(typeof config === 'string' ? undefined : config, tensors);
    if (typeof config === 'string') await writeFile(join(dir, 'config.json'), config);
    const error = await openError(dir);
    if (problem === 'unsupported') expect(error).toBeInstanceOf(UnsupportedModelError);
    else expect(error).toMatchObject({ name: 'HfFormatError', problem });
  });

  it('accepts tensors of mixed float dtypes', async () => {
    const tensors = hfTensors().map((t) =>
      t.name === 'model.norm.weight'
        ? { ...t, dtype: 'bf16' as const, data: new Uint16Array(16).fill(0x3f80) }
        : t,
    );
    const source = await openHfFolder(await folder(baseConfig, tensors));
    try {
      expect(source.tensors.get('output_norm.weight')?.dtype).toBe('bf16');
      expect(await source.read('output_norm.weight')).toEqual(new Uint16Array(16).fill(0x3f80));
    } finally {
      await source.close();
    }
  });

  it('refuses a weight stored as I64 with UnsupportedModelError', async () => {
    const dir = await folder(baseConfig, 'none');
    const others = hfTensors().filter((t) => t.name !== 'model.norm.weight');
    await writeSafetensors(join(dir, 'model-1.safetensors'), others);
    // writeSafetensors writes only float dtypes, so the I64 shard is laid out by hand.
    const header = new TextEncoder().encode(
      JSON.stringify({ 'model.norm.weight': { dtype: 'I64', shape: [16], data_offsets: [0, 128] } }),
    );
    const bytes = new Uint8Array(8 + header.byteLength + 128);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    bytes.set(header, 8);
    await writeFile(join(dir, 'norm.safetensors'), bytes);
    const weightMap: Record<string, string> = { 'model.norm.weight': 'norm.safetensors' };
    for (const t of others) weightMap[t.name] = 'model-1.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    expect(await openError(dir)).toBeInstanceOf(UnsupportedModelError);
  });

  it('refuses an index whose shard names leave the folder', async () => {
    const dir = await folder(baseConfig, 'none');
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: '../x.safetensors' } }),
    );
    expect(await openError(dir)).toMatchObject({ name: 'HfFormatError', problem: 'index-invalid' });
  });
});
