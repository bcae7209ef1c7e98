import * as z from 'zod/mini';
import { englishMessages } from '../zod-messages.js';
import type { LlamaConfig, RopeScaling } from '../weight-source.js';
import { UnsupportedModelError } from '../errors.js';
import { HfFormatError } from './hf-format-error.js';

const positiveInt = z.int().check(z.positive());
// Far beyond any real model, yet small enough that a corrupt value cannot make shape checks loop
// for hours or overflow element counts.
const dimension = positiveInt.check(z.maximum(2 ** 24));
const layerCount = positiveInt.check(z.maximum(10_000));

const ropeScalingSchema = z.looseObject({
  rope_type: z.nullish(z.string()),
  type: z.nullish(z.string()),
  factor: z.nullish(z.number().check(z.positive())),
  original_max_position_embeddings: z.nullish(positiveInt),
  low_freq_factor: z.nullish(z.number()),
  high_freq_factor: z.nullish(z.number()),
  beta_fast: z.nullish(z.number()),
  beta_slow: z.nullish(z.number()),
  rope_theta: z.nullish(z.number().check(z.positive())),
});

/** The fields of transformers' LlamaConfig / Qwen2Config / MistralConfig that shape the forward pass. */
const hfConfigSchema = z.looseObject({
  architectures: z.nullish(z.array(z.string())),
  model_type: z.nullish(z.string()),
  hidden_size: dimension,
  intermediate_size: dimension,
  num_hidden_layers: layerCount,
  num_attention_heads: dimension,
  num_key_value_heads: z.nullish(dimension),
  head_dim: z.nullish(dimension),
  max_position_embeddings: z.nullish(positiveInt),
  rms_norm_eps: z.nullish(z.number().check(z.positive())),
  rope_theta: z.nullish(z.number().check(z.positive())),
  rope_scaling: z.nullish(ropeScalingSchema),
  // transformers 5 moves rope_theta and rope_scaling into one object.
  rope_parameters: z.nullish(ropeScalingSchema),
  tie_word_embeddings: z.nullish(z.boolean()),
  vocab_size: dimension,
  attention_bias: z.nullish(z.boolean()),
  mlp_bias: z.nullish(z.boolean()),
  hidden_act: z.nullish(z.string()),
  sliding_window: z.nullish(positiveInt),
  use_sliding_window: z.nullish(z.boolean()),
});

export type HfConfigJson = z.infer<typeof hfConfigSchema>;

interface Family {
  readonly architecture: 'llama' | 'qwen2';
  readonly modelType: string;
  /** transformers' default max_position_embeddings for the family. */
  readonly defaultContextLength: number;
}

const families: Readonly<Record<string, Family>> = {
  LlamaForCausalLM: { architecture: 'llama', modelType: 'llama', defaultContextLength: 2048 },
  MistralForCausalLM: { architecture: 'llama', modelType: 'mistral', defaultContextLength: 4096 * 32 },
  Qwen2ForCausalLM: { architecture: 'qwen2', modelType: 'qwen2', defaultContextLength: 32768 },
};
const familyByModelType = new Map(Object.entries(families).map(([, family]) => [family.modelType, family]));

/**
 * Turns a parsed config.json into a LlamaConfig. Hugging Face checkpoints keep Q and K in the
 * half-split RoPE layout (rotate_half), so ropeLayout is always 'halfSplit'.
 */
export function llamaConfigFromHf(json: unknown, path: string): LlamaConfig {
  const parsed = hfConfigSchema.safeParse(json, { error: englishMessages });
  if (!parsed.success) {
    throw new HfFormatError(
      path,
      'config-invalid',
      `config.json does not describe a Llama-family model:\n${z.prettifyError(parsed.error)}`,
    );
  }
  const config = parsed.data;
  const declared = config.architectures?.[0];
  const family = declared !== undefined ? families[declared] : familyByModelType.get(config.model_type ?? '');
  if (family === undefined) {
    throw new UnsupportedModelError(
      `architecture ${declared ?? config.model_type ?? '(none given)'} is not supported; use LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM`,
      path,
    );
  }
  const unsupported = (detail: string): UnsupportedModelError => new UnsupportedModelError(detail, path);
  if (config.hidden_act !== undefined && config.hidden_act !== null && config.hidden_act !== 'silu') {
    throw unsupported(`hidden_act "${config.hidden_act}" is not supported; the feed-forward uses SiLU`);
  }
  if (config.mlp_bias === true)
    throw unsupported('mlp_bias: true is not supported (the feed-forward has no biases)');
  // Llama's attention_bias adds a bias to o_proj too, which the forward pass does not apply.
  if (family.architecture === 'llama' && config.attention_bias === true) {
    throw unsupported('attention_bias: true is not supported for Llama (o_proj would need a bias)');
  }
  if (config.use_sliding_window === true) {
    throw unsupported('use_sliding_window: true is not supported; attention is over the whole context');
  }

  const numHeads = config.num_attention_heads;
  const numKvHeads = config.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new HfFormatError(
      path,
      'config-invalid',
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const headDim = config.head_dim ?? config.hidden_size / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new HfFormatError(
      path,
      'config-invalid',
      `head dimension ${headDim} must be an even integer; set head_dim`,
    );
  }

  const rope = config.rope_parameters ?? config.rope_scaling;
  const ropeTheta = config.rope_parameters?.rope_theta ?? config.rope_theta ?? 10000;
  let contextLength = config.max_position_embeddings ?? family.defaultContextLength;
  // Mistral's sliding window makes attention beyond it differ from full attention; capping the
  // context keeps every supported position exact.
  if (family.modelType === 'mistral' && config.sliding_window != null) {
    contextLength = Math.min(contextLength, config.sliding_window);
  }

  return {
    architecture: family.architecture,
    vocabSize: config.vocab_size,
    dim: config.hidden_size,
    hiddenDim: config.intermediate_size,
    numLayers: config.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    contextLength,
    rmsNormEps: config.rms_norm_eps ?? 1e-6,
    ropeTheta,
    ropeLayout: 'halfSplit',
    ropeScaling: ropeScalingFromHf(rope, path),
    tiedEmbeddings: config.tie_word_embeddings ?? false,
    qkvBias: family.architecture === 'qwen2' ? true : (config.attention_bias ?? false),
  };
}

function ropeScalingFromHf(
  rope: z.infer<typeof ropeScalingSchema> | null | undefined,
  path: string,
): RopeScaling {
  const type = rope?.rope_type ?? rope?.type ?? 'default';
  if (rope == null || type === 'default') return { type: 'none', factor: 1 };
  const unsupported = (detail: string): UnsupportedModelError =>
    new UnsupportedModelError(`rope_scaling ${type}: ${detail}`, path);
  const factor = rope.factor;
  if (factor == null) throw unsupported('factor is missing');
  const original = rope.original_max_position_embeddings ?? undefined;
  switch (type) {
    case 'linear':
      return { type: 'linear', factor };
    case 'llama3':
      // LlamaConfig carries no frequency band; Llama 3.1+ checkpoints all use 1 and 4.
      if ((rope.low_freq_factor ?? 1) !== 1 || (rope.high_freq_factor ?? 4) !== 4) {
        throw unsupported('only low_freq_factor 1 and high_freq_factor 4 are supported');
      }
      if (original === undefined) throw unsupported('original_max_position_embeddings is missing');
      return { type: 'llama3', factor, originalContextLength: original };
    case 'yarn':
      if ((rope.beta_fast ?? 32) !== 32 || (rope.beta_slow ?? 1) !== 1) {
        throw unsupported('only the default beta_fast 32 and beta_slow 1 are supported');
      }
      return original === undefined
        ? { type: 'yarn', factor }
        : { type: 'yarn', factor, originalContextLength: original };
    default:
      throw unsupported('this scaling type is not supported; use linear, llama3 or yarn');
  }
}

/** The config.json transformers needs to load a checkpoint written from a LlamaConfig. */
export function hfConfigFromLlama(
  config: LlamaConfig,
  torchDtype: 'float32' | 'float16' | 'bfloat16',
  path: string,
): Record<string, unknown> {
  if (config.architecture !== 'llama' && config.architecture !== 'qwen2') {
    throw new UnsupportedModelError(
      `architecture ${config.architecture} has no Hugging Face equivalent here; only llama and qwen2`,
      path,
    );
  }
  const qwen2 = config.architecture === 'qwen2';
  if (config.qkvBias !== qwen2) {
    throw new UnsupportedModelError(
      `${config.architecture} with${config.qkvBias ? '' : 'out'} Q/K/V biases has no Hugging Face equivalent`,
      path,
    );
  }
  return {
    architectures: [qwen2 ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: qwen2 ? 'qwen2' : 'llama',
    hidden_size: config.dim,
    intermediate_size: config.hiddenDim,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    max_position_embeddings: config.contextLength,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: ropeScalingToHf(config.ropeScaling),
    tie_word_embeddings: config.tiedEmbeddings,
    vocab_size: config.vocabSize,
    hidden_act: 'silu',
    ...(qwen2 ? {} : { attention_bias: false, mlp_bias: false }),
    torch_dtype: torchDtype,
  };
}

function ropeScalingToHf(scaling: RopeScaling): Record<string, unknown> | null {
  const original =
    scaling.originalContextLength === undefined
      ? {}
      : { original_max_position_embeddings: scaling.originalContextLength };
  switch (scaling.type) {
    case 'none':
      return null;
    case 'linear':
      return { rope_type: 'linear', factor: scaling.factor };
    case 'llama3':
      return {
        rope_type: 'llama3',
        factor: scaling.factor,
        low_freq_factor: 1,
        high_freq_factor: 4,
        ...original,
      };
    case 'yarn':
      return { rope_type: 'yarn', factor: scaling.factor, ...original };
  }
}
