import type { GgufFile } from '../gguf/gguf-file.js';
import { ggufValue, type GgufValue } from '../gguf/gguf-value.js';
import type { HfSentencePieceTokenizer } from '../hf/hf-tokenizer-files.js';
import { pieceType } from '../hf/sentencepiece-model.js';
import type { Llama2cTokenizer } from '../llama2c/llama2c-tokenizer.js';
import type { LlamaConfig } from '../weight-source.js';

/** llama_ftype values (llama.h) for general.file_type. */
export const ggufFileType = { f32: 0, f16: 1 } as const;

/**
 * The hyperparameters llama.cpp reads for a `llama` or `qwen2` model, as convert_hf_to_gguf.py
 * writes them. key_length/value_length appear only when the head dimension is not dim / heads.
 */
export function llamaGgufMetadata(
  config: LlamaConfig,
  architecture: 'llama' | 'qwen2',
  name: string,
  type: keyof typeof ggufFileType,
): Map<string, GgufValue> {
  const a = architecture;
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', ggufValue.string(a)],
    ['general.name', ggufValue.string(name)],
    ['general.file_type', ggufValue.u32(ggufFileType[type])],
    [`${a}.vocab_size`, ggufValue.u32(config.vocabSize)],
    [`${a}.context_length`, ggufValue.u32(config.contextLength)],
    [`${a}.embedding_length`, ggufValue.u32(config.dim)],
    [`${a}.block_count`, ggufValue.u32(config.numLayers)],
    [`${a}.feed_forward_length`, ggufValue.u32(config.hiddenDim)],
    [`${a}.rope.dimension_count`, ggufValue.u32(config.headDim)],
    [`${a}.rope.freq_base`, ggufValue.f32(config.ropeTheta)],
    [`${a}.attention.head_count`, ggufValue.u32(config.numHeads)],
    [`${a}.attention.head_count_kv`, ggufValue.u32(config.numKvHeads)],
    [`${a}.attention.layer_norm_rms_epsilon`, ggufValue.f32(config.rmsNormEps)],
  ]);
  if (config.headDim * config.numHeads !== config.dim) {
    metadata.set(`${a}.attention.key_length`, ggufValue.u32(config.headDim));
    metadata.set(`${a}.attention.value_length`, ggufValue.u32(config.headDim));
  }
  const scaling = config.ropeScaling;
  // llama3 scaling travels as the rope_freqs.weight tensor instead (see llama3RopeFactors).
  if (scaling.type === 'linear' || scaling.type === 'yarn') {
    metadata.set(`${a}.rope.scaling.type`, ggufValue.string(scaling.type));
    metadata.set(`${a}.rope.scaling.factor`, ggufValue.f32(scaling.factor));
    if (scaling.originalContextLength !== undefined) {
      metadata.set(`${a}.rope.scaling.original_context_length`, ggufValue.u32(scaling.originalContextLength));
    }
  }
  return metadata;
}

// llama_token_type (llama.h).
const tokenType = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
// run.c's fixed ids for the llama2 SentencePiece vocabulary.
const unknownId = 0;
const bosId = 1;
const eosId = 2;

/**
 * SentencePiece vocabulary metadata from a llama2.c tokenizer.bin, the way llama.cpp's
 * convert-llama2c-to-ggml builds it: ids 0/1/2 become <unk>/<s>/</s>, empty pieces are control
 * tokens, <0xXX> pieces are byte tokens, and spaces are written back as U+2581 (llama2.c's export
 * replaced them).
 */
export function llama2cTokenizerMetadata(tokenizer: Llama2cTokenizer): Map<string, GgufValue> {
  const tokens: string[] = [];
  const types: number[] = [];
  tokenizer.tokens.forEach((piece, id) => {
    let text = piece;
    let type: number = tokenType.normal;
    if (id === unknownId) [text, type] = ['<unk>', tokenType.unknown];
    else if (id === bosId) [text, type] = ['<s>', tokenType.control];
    else if (id === eosId) [text, type] = ['</s>', tokenType.control];
    else if (piece === '') type = tokenType.control;
    else if (/^<0x[0-9A-Fa-f]{1,2}>$/.test(piece)) type = tokenType.byte;
    tokens.push(text.replaceAll(' ', '\u2581'));
    types.push(type);
  });
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', ggufValue.string('llama')],
    ['tokenizer.ggml.tokens', ggufValue.stringArray(tokens)],
    ['tokenizer.ggml.scores', ggufValue.f32Array(tokenizer.scores)],
    ['tokenizer.ggml.token_type', ggufValue.i32Array(types)],
    ['tokenizer.ggml.unknown_token_id', ggufValue.u32(unknownId)],
    ['tokenizer.ggml.bos_token_id', ggufValue.u32(bosId)],
    ['tokenizer.ggml.eos_token_id', ggufValue.u32(eosId)],
  ]);
}

/**
 * SentencePiece vocabulary metadata from a Hugging Face folder's tokenizer.model, as
 * convert_hf_to_gguf.py writes it: pieces, scores and types as stored, padded with unused
 * "[PADn]" pieces (score -10000) up to the embedding's row count or cut to it; special ids from
 * config.json, else the model's trainer spec.
 */
export function sentencePieceTokenizerMetadata(
  tokenizer: HfSentencePieceTokenizer,
  vocabSize: number,
): Map<string, GgufValue> {
  const { model } = tokenizer;
  const tokens = Array.from({ length: vocabSize }, (_, id) => model.pieces[id] ?? `[PAD${id}]`);
  const scores = Float32Array.from({ length: vocabSize }, (_, id) => model.scores[id] ?? -10000);
  const types = Int32Array.from({ length: vocabSize }, (_, id) => model.types[id] ?? pieceType.unused);
  const metadata = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', ggufValue.string('llama')],
    ['tokenizer.ggml.pre', ggufValue.string('default')],
    ['tokenizer.ggml.tokens', ggufValue.stringArray(tokens)],
    ['tokenizer.ggml.scores', ggufValue.f32Array(scores)],
    ['tokenizer.ggml.token_type', ggufValue.i32Array(types)],
  ]);
  const special = (key: string, id: number | undefined): void => {
    if (id !== undefined && id >= 0 && id < vocabSize)
      metadata.set(`tokenizer.ggml.${key}`, ggufValue.u32(id));
  };
  special('bos_token_id', tokenizer.bosId ?? model.bosId);
  special('eos_token_id', tokenizer.eosId ?? model.eosId);
  special('unknown_token_id', model.unkId);
  special('padding_token_id', model.padId);
  if (tokenizer.addBosToken !== undefined)
    metadata.set('tokenizer.ggml.add_bos_token', ggufValue.bool(tokenizer.addBosToken));
  if (tokenizer.addEosToken !== undefined)
    metadata.set('tokenizer.ggml.add_eos_token', ggufValue.bool(tokenizer.addEosToken));
  if (!model.addDummyPrefix) metadata.set('tokenizer.ggml.add_space_prefix', ggufValue.bool(false));
  if (tokenizer.chatTemplate !== undefined)
    metadata.set('tokenizer.chat_template', ggufValue.string(tokenizer.chatTemplate));
  return metadata;
}

/** Every tokenizer.* key of a GGUF (vocabulary, merges, special ids, chat template), unchanged. */
export function ggufTokenizerMetadata(file: GgufFile): Map<string, GgufValue> {
  return new Map([...file.metadata].filter(([key]) => key.startsWith('tokenizer.')));
}

/** Number of tokens the tokenizer metadata lists (0 when there is no token list). */
export function tokenizerVocabSize(metadata: ReadonlyMap<string, GgufValue>): number {
  const tokens = metadata.get('tokenizer.ggml.tokens');
  return tokens?.type === 'array' ? tokens.value.length : 0;
}

/**
 * Llama 3.1's per-frequency RoPE divisors, as convert_hf_to_gguf.py computes the rope_freqs.weight
 * tensor llama.cpp applies: long wavelengths are slowed by `factor`, short ones kept, the band
 * between blended. The low/high frequency factors are Llama 3.1's 1 and 4.
 */
export function llama3RopeFactors(config: LlamaConfig): Float32Array {
  const { factor, originalContextLength = 8192 } = config.ropeScaling;
  const lowFreqFactor = 1;
  const highFreqFactor = 4;
  const lowFreqWavelength = originalContextLength / lowFreqFactor;
  const highFreqWavelength = originalContextLength / highFreqFactor;
  const factors = new Float32Array(config.headDim / 2);
  for (let i = 0; i < factors.length; i++) {
    const freq = 1 / config.ropeTheta ** ((2 * i) / config.headDim);
    const wavelength = (2 * Math.PI) / freq;
    if (wavelength < highFreqWavelength) factors[i] = 1;
    else if (wavelength > lowFreqWavelength) factors[i] = factor;
    else {
      const smooth = (originalContextLength / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      factors[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return factors;
}
