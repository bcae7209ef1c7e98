import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFileError } from '../errors.js';
import { writeSafetensors } from '../node/index.js';
import { llamaConfigFromHf } from './hf-config.js';
import { openHfFolder } from '../node/index.js';

const validConfig: Record<string, unknown> = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  rope_scaling: {
    rope_type: 'llama3',
    factor: 8,
    original_max_position_embeddings: 32,
    low_freq_factor: 1,
    high_freq_factor: 4,
  },
  vocab_size: 5,
  tie_word_embeddings: true,
};

const interesting = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(0, -1, 1, 2, 3, 1.5, 1e15, 2 ** 40, 1e308, null, 'silu', 'gelu', true, false, [], {}),
  fc
    .constantFrom('LlamaForCausalLM', 'Qwen2ForCausalLM', 'MistralForCausalLM', 'Phi3ForCausalLM')
    .map((a) => [a]),
  fc.record(
    { type: fc.constantFrom('linear', 'yarn', 'llama3', 'dynamic', 'default'), factor: fc.jsonValue() },
    { requiredKeys: [] },
  ),
);

/** config.json variants: keys of a valid config replaced, deleted or added. */
const configVariant = fc
  .tuple(
    fc.subarray(Object.keys(validConfig)),
    fc.subarray(Object.keys(validConfig)),
    fc.array(interesting, {
      minLength: Object.keys(validConfig).length,
      maxLength: Object.keys(validConfig).length,
    }),
    fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
  )
  .map(([replaced, deleted, values, extra]) => {
    const config: Record<string, unknown> = { ...validConfig, ...extra };
    replaced.forEach((key, i) => (config[key] = values[i]));
    for (const key of deleted) delete config[key];
    return config;
  });

function onlyTypedErrors(json: unknown): void {
  try {
    const config = llamaConfigFromHf(json, 'config.json');
    expect(Number.isInteger(config.headDim) && config.numHeads % config.numKvHeads === 0).toBe(true);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelFileError);
  }
}

describe('config.json under random variation', () => {
  it('accepts the valid config', () => {
    expect(llamaConfigFromHf(validConfig, 'config.json')).toMatchObject({
      headDim: 4,
      ropeScaling: { type: 'llama3', factor: 8, originalContextLength: 32 },
    });
  });

  it('yields a LlamaConfig or a ModelFileError for mutated configs', () => {
    fc.assert(fc.property(configVariant, onlyTypedErrors), { numRuns: 400 });
  });

  it('yields a ModelFileError for arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), onlyTypedErrors), { numRuns: 200 });
  });

  describe('through openHfFolder', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'hf-config-fuzz-'));
      const shapes: Array<[string, number[]]> = [
        ['model.embed_tokens.weight', [5, 8]],
        ['model.layers.0.input_layernorm.weight', [8]],
        ['model.layers.0.self_attn.q_proj.weight', [8, 8]],
        ['model.layers.0.self_attn.k_proj.weight', [4, 8]],
        ['model.layers.0.self_attn.v_proj.weight', [4, 8]],
        ['model.layers.0.self_attn.o_proj.weight', [8, 8]],
        ['model.layers.0.post_attention_layernorm.weight', [8]],
        ['model.layers.0.mlp.gate_proj.weight', [12, 8]],
        ['model.layers.0.mlp.up_proj.weight', [12, 8]],
        ['model.layers.0.mlp.down_proj.weight', [8, 12]],
        ['model.norm.weight', [8]],
      ];
      await writeSafetensors(
        join(dir, 'model.safetensors'),
        shapes.map(([name, shape]) => {
          const size = shape.reduce((a, b) => a * b, 1);
          return {
            name,
            dtype: 'f32',
            shape,
            data: Float32Array.from({ length: size }, (_, i) => Math.sin(i + 1)),
          };
        }),
      );
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('opens or throws a ModelFileError, never anything else', async () => {
      let opened = 0;
      await fc.assert(
        fc.asyncProperty(fc.oneof(configVariant, fc.constant(validConfig)), async (config) => {
          await writeFile(join(dir, 'config.json'), JSON.stringify(config));
          try {
            const source = await openHfFolder(dir);
            opened++;
            await source.close();
          } catch (error) {
            expect(error).toBeInstanceOf(ModelFileError);
          }
        }),
        { numRuns: 150 },
      );
      expect(opened).toBeGreaterThan(0);
    });
  });
});
