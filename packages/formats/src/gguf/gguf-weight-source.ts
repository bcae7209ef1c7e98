import { GgufFormatError, UnsupportedModelError } from '../errors.js';
import type { LlamaConfig, RopeLayout, RopeScaling, TensorInfo, WeightSource } from '../weight-source.js';
import { isOneOf, TENSOR_DTYPES } from '@llm/quant';
import type { ByteSource } from '../io/byte-source.js';
import { openGgufSource, SUPPORTED_TYPES, type GgufFile } from './gguf-file.js';

/**
 * Llama-family architectures whose GGUF tensors and hyperparameters map onto LlamaConfig unchanged.
 * llama.cpp rotates llama/mistral with its "normal" RoPE (adjacent pairs: its converter permutes Q
 * and K to match) and qwen2 with NEOX RoPE (halves), see llama_model_rope_type().
 */
const ropeLayouts: Readonly<Record<string, RopeLayout>> = {
  llama: 'adjacent',
  mistral: 'adjacent',
  qwen2: 'halfSplit',
};

function missing(file: GgufFile, key: string): never {
  throw new GgufFormatError(`metadata ${key} is missing; it is required for a Llama-family model`, file.path);
}

/** A hyperparameter GGUF may store per layer; the engine needs the same value on every layer. */
function uniformPerLayer(file: GgufFile, key: string): number | undefined {
  const value = file.get(key);
  if (value?.type !== 'array') return file.getU32(key);
  const values = Array.from(file.getInt32Array(key) ?? []);
  const first = values[0];
  if (first === undefined || values.some((v) => v !== first)) {
    throw new UnsupportedModelError(
      `${key} differs between layers (${values.join(', ')}); not supported`,
      file.path,
    );
  }
  return first;
}

function ropeScaling(file: GgufFile, arch: string): RopeScaling {
  const type = file.getString(`${arch}.rope.scaling.type`);
  const factor = file.getF32(`${arch}.rope.scaling.factor`);
  const original = file.getU32(`${arch}.rope.scaling.original_context_length`);
  const withOriginal = (s: RopeScaling): RopeScaling =>
    original === undefined ? s : { ...s, originalContextLength: original };
  if (type === undefined) {
    // Files converted before rope.scaling.* existed carry a bare linear factor.
    const linear = file.getF32(`${arch}.rope.scale_linear`);
    return linear === undefined || linear === 1
      ? { type: 'none', factor: 1 }
      : { type: 'linear', factor: linear };
  }
  if (type === 'none') return { type: 'none', factor: 1 };
  if (type === 'linear' || type === 'yarn') {
    // llama.cpp reads a factor of 0 as "no scaling".
    return withOriginal({ type, factor: factor === undefined || factor === 0 ? 1 : factor });
  }
  throw new UnsupportedModelError(
    `RoPE scaling type ${type} is not supported (none, linear and yarn are)`,
    file.path,
  );
}

/** Maps a GGUF's `{arch}.*` hyperparameters onto LlamaConfig, checking them against each other. */
export function llamaConfigFromGguf(file: GgufFile): LlamaConfig {
  const arch = file.getString('general.architecture') ?? missing(file, 'general.architecture');
  const ropeLayout = ropeLayouts[arch];
  if (ropeLayout === undefined) {
    throw new UnsupportedModelError(
      `architecture ${arch} is not supported; supported: ${Object.keys(ropeLayouts).join(', ')}`,
      file.path,
    );
  }
  const key = (name: string): string => `${arch}.${name}`;
  const required = (name: string): number => file.getU32(key(name)) ?? missing(file, key(name));

  const dim = required('embedding_length');
  const numLayers = required('block_count');
  const contextLength = required('context_length');
  const hiddenDim =
    uniformPerLayer(file, key('feed_forward_length')) ?? missing(file, key('feed_forward_length'));
  const numHeads =
    uniformPerLayer(file, key('attention.head_count')) ?? missing(file, key('attention.head_count'));
  const numKvHeads = uniformPerLayer(file, key('attention.head_count_kv')) ?? numHeads;
  const rmsNormEps =
    file.getF32(key('attention.layer_norm_rms_epsilon')) ??
    missing(file, key('attention.layer_norm_rms_epsilon'));
  const bad = (problem: string): never => {
    throw new GgufFormatError(problem, file.path);
  };
  if (
    dim === 0 ||
    numLayers === 0 ||
    numHeads === 0 ||
    numKvHeads === 0 ||
    hiddenDim === 0 ||
    contextLength === 0
  ) {
    bad(
      `a hyperparameter is zero (dim ${dim}, layers ${numLayers}, heads ${numHeads}/${numKvHeads}, hidden ${hiddenDim})`,
    );
  }
  if (numHeads % numKvHeads !== 0) bad(`${numHeads} query heads cannot share ${numKvHeads} KV heads evenly`);
  const keyLength = file.getU32(key('attention.key_length'));
  const valueLength = file.getU32(key('attention.value_length'));
  if (keyLength === undefined && dim % numHeads !== 0)
    bad(`embedding_length ${dim} is not a multiple of ${numHeads} heads`);
  const headDim = keyLength ?? dim / numHeads;
  if (valueLength !== undefined && valueLength !== headDim) {
    throw new UnsupportedModelError(
      `key length ${headDim} differs from value length ${valueLength}`,
      file.path,
    );
  }
  if (headDim % 2 !== 0) bad(`head dimension ${headDim} is odd; RoPE rotates pairs`);
  const ropeDims = file.getU32(key('rope.dimension_count'));
  if (ropeDims !== undefined && ropeDims !== headDim) {
    throw new UnsupportedModelError(
      `RoPE rotates ${ropeDims} of ${headDim} head dimensions; only full rotation is supported`,
      file.path,
    );
  }

  const embedding = file.tensor('token_embd.weight') ?? missingTensor(file, 'token_embd.weight');
  const vocabSize = embedding.shape[0] ?? 0;
  return {
    architecture: arch,
    vocabSize,
    dim,
    hiddenDim,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    contextLength,
    rmsNormEps,
    ropeTheta: file.getF32(key('rope.freq_base')) ?? 10000,
    ropeLayout,
    ropeScaling: ropeScaling(file, arch),
    tiedEmbeddings: file.tensor('output.weight') === undefined,
    qkvBias: file.tensor('blk.0.attn_q.bias') !== undefined,
  };
}

function missingTensor(file: GgufFile, name: string): never {
  throw new GgufFormatError(`tensor ${name} is missing`, file.path);
}

/** Row-major shapes every Llama-family checkpoint must have, keyed by GGUF tensor name. */
export function expectedLlamaShapes(config: LlamaConfig): Map<string, readonly number[]> {
  const { dim, hiddenDim, numHeads, numKvHeads, headDim, vocabSize } = config;
  const qDim = numHeads * headDim;
  const kvDim = numKvHeads * headDim;
  const shapes = new Map<string, readonly number[]>([
    ['token_embd.weight', [vocabSize, dim]],
    ['output_norm.weight', [dim]],
  ]);
  if (!config.tiedEmbeddings) shapes.set('output.weight', [vocabSize, dim]);
  for (let layer = 0; layer < config.numLayers; layer++) {
    const b = `blk.${layer}.`;
    shapes.set(`${b}attn_norm.weight`, [dim]);
    shapes.set(`${b}attn_q.weight`, [qDim, dim]);
    shapes.set(`${b}attn_k.weight`, [kvDim, dim]);
    shapes.set(`${b}attn_v.weight`, [kvDim, dim]);
    shapes.set(`${b}attn_output.weight`, [dim, qDim]);
    shapes.set(`${b}ffn_norm.weight`, [dim]);
    shapes.set(`${b}ffn_gate.weight`, [hiddenDim, dim]);
    shapes.set(`${b}ffn_up.weight`, [hiddenDim, dim]);
    shapes.set(`${b}ffn_down.weight`, [dim, hiddenDim]);
    if (config.qkvBias) {
      shapes.set(`${b}attn_q.bias`, [qDim]);
      shapes.set(`${b}attn_k.bias`, [kvDim]);
      shapes.set(`${b}attn_v.bias`, [kvDim]);
    }
  }
  return shapes;
}

/**
 * A WeightSource over an open GGUF file: the config from its metadata and every tensor, with the
 * Llama tensors' presence and shapes checked up front. Tensors outside F32/F16/BF16 and the block
 * types with a codec (Q4_0 ... Q8_0, Q2_K ... Q6_K) are refused here, before any weight is uploaded. `close()` closes the file.
 */
export function ggufWeightSource(file: GgufFile): WeightSource {
  const config = llamaConfigFromGguf(file);
  const tensors = new Map<string, TensorInfo>();
  for (const t of file.tensors) {
    const dtype = t.type.name;
    if (!isOneOf(TENSOR_DTYPES, dtype)) {
      throw new UnsupportedModelError(
        `tensor ${t.name} has type ${t.ggmlType}, which is not supported; ${SUPPORTED_TYPES}`,
        file.path,
      );
    }
    tensors.set(t.name, { name: t.name, dtype, shape: t.shape, byteLength: t.byteLength });
  }
  for (const [name, shape] of expectedLlamaShapes(config)) {
    const t = tensors.get(name) ?? missingTensor(file, name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new GgufFormatError(
        `tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from the metadata`,
        file.path,
      );
    }
  }
  return {
    config,
    tensors,
    read: (name) => file.readTensor(name),
    close: () => file.close(),
  };
}

/** Opens a GGUF as a WeightSource (closing the source again when the metadata is unusable). */
export async function openGgufWeightSourceFrom(source: ByteSource): Promise<WeightSource> {
  const file = await openGgufSource(source);
  try {
    return ggufWeightSource(file);
  } catch (error) {
    await file.close();
    throw error;
  }
}
