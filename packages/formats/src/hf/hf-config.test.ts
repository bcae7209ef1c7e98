import { describe, expect, it } from 'vitest';
import { hfConfigFromLlama, llamaConfigFromHf } from './hf-config.js';
import { UnsupportedModelError } from '../errors.js';
import { HfFormatError } from './hf-format-error.js';

const llama2Like = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 4096,
  rms_norm_eps: 1e-5,
};

describe('llamaConfigFromHf', () => {
  it('applies transformers defaults: KV heads = heads, head_dim = hidden / heads, rope_theta 10000, untied', () => {
    expect(llamaConfigFromHf(llama2Like, 'config.json')).toMatchObject({
      numKvHeads: 32,
      headDim: 128,
      ropeTheta: 10000,
      tiedEmbeddings: false,
      qkvBias: false,
      ropeLayout: 'halfSplit',
      ropeScaling: { type: 'none', factor: 1 },
    });
  });

  it('reads a Llama 3.1 style llama3 rope_scaling and explicit head_dim', () => {
    const config = llamaConfigFromHf(
      {
        ...llama2Like,
        head_dim: 64,
        num_key_value_heads: 8,
        rope_theta: 500000,
        rope_scaling: {
          rope_type: 'llama3',
          factor: 32,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      },
      'config.json',
    );
    expect(config).toMatchObject({ headDim: 64, numKvHeads: 8, ropeTheta: 500000 });
    expect(config.ropeScaling).toEqual({ type: 'llama3', factor: 32, originalContextLength: 8192 });
  });

  it('maps Mistral to the llama architecture and caps the context at its sliding window', () => {
    const config = llamaConfigFromHf(
      {
        ...llama2Like,
        architectures: ['MistralForCausalLM'],
        max_position_embeddings: 32768,
        sliding_window: 4096,
        head_dim: null,
      },
      'config.json',
    );
    expect(config).toMatchObject({ architecture: 'llama', contextLength: 4096, headDim: 128 });
  });

  it('falls back to model_type when architectures is absent', () => {
    const rest: Record<string, unknown> = { ...llama2Like };
    delete rest['architectures'];
    expect(llamaConfigFromHf({ ...rest, model_type: 'qwen2' }, 'config.json')).toMatchObject({
      architecture: 'qwen2',
      qkvBias: true,
    });
  });

  it.each([
    ['Llama attention_bias (o_proj bias)', { attention_bias: true }],
    ['mlp_bias', { mlp_bias: true }],
    [
      'llama3 scaling with a non-standard band',
      {
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 2,
          original_max_position_embeddings: 8192,
        },
      },
    ],
    ['linear scaling without a factor', { rope_scaling: { type: 'linear' } }],
    ['longrope scaling', { rope_scaling: { type: 'longrope', factor: 4 } }],
  ])('refuses %s as unsupported', (_, change) => {
    expect(() => llamaConfigFromHf({ ...llama2Like, ...change }, '/m/config.json')).toThrow(
      UnsupportedModelError,
    );
  });

  it('refuses an odd head dimension as an invalid config', () => {
    expect(() => llamaConfigFromHf({ ...llama2Like, head_dim: 3 }, '/m/config.json')).toThrow(HfFormatError);
  });

  it('writes a config.json that reads back to the same LlamaConfig', () => {
    for (const source of [
      {
        ...llama2Like,
        num_key_value_heads: 8,
        tie_word_embeddings: true,
        rope_scaling: { type: 'linear', factor: 2 },
      },
      {
        ...llama2Like,
        architectures: ['Qwen2ForCausalLM'],
        rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 1024 },
      },
    ]) {
      const config = llamaConfigFromHf(source, 'config.json');
      const written = JSON.parse(
        JSON.stringify(hfConfigFromLlama(config, 'float16', 'out/config.json')),
      ) as unknown;
      expect(llamaConfigFromHf(written, 'out/config.json')).toEqual(config);
    }
  });
});
