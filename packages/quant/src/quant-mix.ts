import type { BlockDtype } from './dtype-sets.js';
import { elementType, type ElementTypeName } from './element-types.js';
import { LlmError } from './llm-error.js';

/**
 * llama.cpp's quantization mixes (`llama-quantize`'s names, lower-case) with their llama_ftype
 * (llama.h), the value of GGUF's `general.file_type`, and base tensor type. `q3_k`, `q4_k` and
 * `q5_k` are llama-quantize's aliases of the `_m` mixes. Q2_K_S and the IQ mixes need an
 * importance matrix, which these reference quantizers do not take.
 */
const mixes = {
  q4_0: { fileType: 2, base: 'q4_0' },
  q4_1: { fileType: 3, base: 'q4_1' },
  q8_0: { fileType: 7, base: 'q8_0' },
  q5_0: { fileType: 8, base: 'q5_0' },
  q5_1: { fileType: 9, base: 'q5_1' },
  q2_k: { fileType: 10, base: 'q2_k' },
  q3_k_s: { fileType: 11, base: 'q3_k' },
  q3_k_m: { fileType: 12, base: 'q3_k' },
  q3_k_l: { fileType: 13, base: 'q3_k' },
  q4_k_s: { fileType: 14, base: 'q4_k' },
  q4_k_m: { fileType: 15, base: 'q4_k' },
  q5_k_s: { fileType: 16, base: 'q5_k' },
  q5_k_m: { fileType: 17, base: 'q5_k' },
  q6_k: { fileType: 18, base: 'q6_k' },
} as const satisfies Record<string, { fileType: number; base: ElementTypeName }>;

type CanonicalMix = keyof typeof mixes;

const aliases = { q3_k: 'q3_k_m', q4_k: 'q4_k_m', q5_k: 'q5_k_m' } as const satisfies Record<
  string,
  CanonicalMix
>;

/** Every mix name `quantMix` accepts, aliases included. */
export const QUANT_MIXES = [
  'q8_0',
  'q4_0',
  'q4_1',
  'q5_0',
  'q5_1',
  'q2_k',
  'q3_k',
  'q3_k_s',
  'q3_k_m',
  'q3_k_l',
  'q4_k',
  'q4_k_s',
  'q4_k_m',
  'q5_k',
  'q5_k_s',
  'q5_k_m',
  'q6_k',
] as const satisfies readonly (CanonicalMix | keyof typeof aliases)[];

export type QuantMixName = (typeof QUANT_MIXES)[number];

export interface QuantMix {
  /** The canonical name (`q4_k_m` for `q4_k`). */
  readonly name: CanonicalMix;
  /** llama_ftype: what llama.cpp writes as `general.file_type`. */
  readonly fileType: number;
  /** The type most weight matrices get. */
  readonly base: BlockDtype;
}

/** A mix by name; `invalid_argument` for an unknown one. */
export function quantMix(name: string): QuantMix {
  const canonical: string = (aliases as Record<string, string>)[name] ?? name;
  const found = (mixes as Record<string, { fileType: number; base: BlockDtype }>)[canonical];
  if (found === undefined) {
    throw new LlmError(
      'invalid_argument',
      `unknown quantization type '${name}'; known: ${QUANT_MIXES.join(', ')}`,
    );
  }
  return { name: canonical as CanonicalMix, ...found };
}

/** What tensorQuantType needs to know of the model besides the tensor. */
export interface QuantMixModel {
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** True when the file has no output.weight: token_embd.weight is then quantized as the output. */
  readonly tiedEmbeddings: boolean;
}

export interface QuantTypeOverrides {
  /** Type of output.weight (and of a tied token_embd.weight), as llama-quantize's --output-tensor-type. */
  readonly outputType?: BlockDtype | 'f16' | 'f32';
  /** Type of token_embd.weight, as llama-quantize's --token-embedding-type. */
  readonly tokenEmbeddingType?: BlockDtype | 'f16' | 'f32';
}

export interface TensorQuantChoice {
  /** The type to store the tensor in; `keep` for tensors llama.cpp leaves as they are (1-D norms and biases). */
  readonly type: BlockDtype | 'f16' | 'f32' | 'keep';
  /** Set when the row length does not fit the type the mix asked for: the type it asked for. */
  readonly fallbackFrom?: BlockDtype;
}

type Category =
  | 'token_embd'
  | 'output'
  | 'attn_v'
  | 'attn_k'
  | 'attn_q'
  | 'attn_output'
  | 'attn_qkv'
  | 'ffn_down'
  | 'ffn_gate'
  | 'ffn_up'
  | 'other';

// llama.cpp's tensor_get_category: substring tests, in its order.
function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight') || name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

// llama.cpp's tensor_allows_quantization, for the tensors of the dense architectures read here.
function allowsQuantization(name: string, shape: readonly number[]): boolean {
  return (
    dimensionCount(shape) >= 2 &&
    name.endsWith('weight') &&
    !name.includes('_norm.weight') &&
    !name.includes('ffn_gate_inp.weight')
  );
}

// ggml_n_dims: dimensions up to the outermost one longer than 1 (ggml's ne is the shape reversed).
function dimensionCount(shape: readonly number[]): number {
  const outer = shape.findIndex((d) => d > 1);
  return outer < 0 ? 1 : shape.length - outer;
}

// C integer division (truncates toward zero), as llama.cpp computes layer thresholds.
const div = (a: number, b: number): number => Math.trunc(a / b);

function useMoreBits(layer: number, layers: number): boolean {
  return layer < div(layers, 8) || layer >= div(7 * layers, 8) || (layer - div(layers, 8)) % 3 === 2;
}

function layerOf(name: string): number {
  const match = /^blk\.(\d+)\./.exec(name);
  return match ? Number(match[1]) : -1;
}

const blockSize = (type: BlockDtype | 'f16' | 'f32'): number => elementType(type).blockSize;

/**
 * The type llama.cpp's `llama_model_quantize` gives a tensor for a mix (src/llama-quant.cpp:
 * llama_tensor_get_type and tensor_type_fallback, as in the llama.cpp node-llama-cpp 3.22 ships),
 * for Llama-family dense models: output.weight Q6_K in the K mixes and the legacy 4/5-bit ones
 * (Q8_0 when its rows do not fit the base type's blocks), `_m` mixes give half of attn_v and
 * ffn_down more bits (use_more_bits), `_s` mixes the first layers, and so on. A row length
 * (`shape`'s last, innermost dimension) that is not a multiple of the chosen type's block falls
 * back as llama.cpp does: Q2_K/Q3_K to Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, and to F16
 * when even that does not fit.
 *
 * llama.cpp counts attn_v and ffn_down tensors in file order; for one of each per layer, as in
 * every Llama file, that count is the layer index in the tensor's name, so this is a pure function.
 * Models with 80 layers and grouped-query attention are llama.cpp's "70B" (attn_v gets Q5_K for
 * Q3_K/Q4_K); mixture-of-experts and Falcon rules are not here.
 */
export function tensorQuantType(
  tensor: { readonly name: string; readonly shape: readonly number[] },
  mixName: QuantMixName | QuantMix,
  model: QuantMixModel,
  overrides: QuantTypeOverrides = {},
): TensorQuantChoice {
  const { name, shape } = tensor;
  if (!allowsQuantization(name, shape)) return { type: 'keep' };
  const mix = typeof mixName === 'string' ? quantMix(mixName) : mixName;
  const category = categoryOf(name);
  if (overrides.tokenEmbeddingType !== undefined && category === 'token_embd') {
    return { type: overrides.tokenEmbeddingType };
  }
  if (overrides.outputType !== undefined && category === 'output') return { type: overrides.outputType };

  const rowLength = shape[shape.length - 1] ?? 0;
  const m = mix.name;
  const layers = model.numLayers;
  const layer = layerOf(name);
  const gqa = model.numHeads / model.numKvHeads;
  let type: BlockDtype | 'f16' | 'f32' = mix.base;

  if (category === 'output' || (model.tiedEmbeddings && category === 'token_embd')) {
    if (overrides.outputType !== undefined) type = overrides.outputType;
    else if (rowLength % blockSize(type) !== 0) type = 'q8_0';
    else if (type !== 'q8_0') type = 'q6_k';
  } else if (category === 'attn_v') {
    if (m === 'q2_k') type = gqa >= 4 ? 'q4_k' : 'q3_k';
    else if (m === 'q3_k_m') type = layer < 2 ? 'q5_k' : 'q4_k';
    else if (m === 'q3_k_l') type = 'q5_k';
    else if ((m === 'q4_k_m' || m === 'q5_k_m') && useMoreBits(layer, layers)) type = 'q6_k';
    else if (m === 'q4_k_s' && layer < 4) type = 'q5_k';
    // llama.cpp's LLM_TYPE_70B: eight query heads share each attn_v, so more bits there cost little.
    if (layers === 80 && model.numKvHeads !== model.numHeads && (type === 'q3_k' || type === 'q4_k'))
      type = 'q5_k';
  } else if (category === 'ffn_down') {
    if (m === 'q2_k') type = 'q3_k';
    else if (m === 'q3_k_m') type = layer < div(layers, 16) ? 'q5_k' : 'q4_k';
    else if (m === 'q3_k_l') type = 'q5_k';
    else if (m === 'q4_k_m') {
      if (useMoreBits(layer, layers)) type = 'q6_k';
    } else if (m === 'q5_k_m' && useMoreBits(layer, layers)) type = 'q6_k';
    else if (m === 'q4_k_s' && layer < div(layers, 8)) type = 'q5_k';
  } else if (category === 'attn_output') {
    if (m === 'q2_k') type = 'q3_k';
    else if (m === 'q3_k_m') type = 'q4_k';
    else if (m === 'q3_k_l') type = 'q5_k';
  } else if (category === 'attn_qkv') {
    if (m === 'q3_k_m' || m === 'q3_k_l') type = 'q4_k';
    else if (m === 'q4_k_m') type = 'q5_k';
    else if (m === 'q5_k_m') type = 'q6_k';
  }
  return fallback(type, rowLength);
}

const fallbacks: Partial<Record<BlockDtype, BlockDtype>> = {
  q2_k: 'q4_0',
  q3_k: 'q4_0',
  q4_k: 'q5_0',
  q5_k: 'q5_1',
  q6_k: 'q8_0',
};

function fallback(type: BlockDtype | 'f16' | 'f32', rowLength: number): TensorQuantChoice {
  if (type === 'f16' || type === 'f32' || rowLength % blockSize(type) === 0) return { type };
  const next = fallbacks[type] ?? type;
  return { type: rowLength % blockSize(next) === 0 ? next : 'f16', fallbackFrom: type };
}
