import type { GgufValue } from '../gguf/gguf-value.js';
import { HF_SENTENCEPIECE_FILE, HF_TOKENIZER_CONFIG_FILE } from '../hf/hf-tokenizer-files.js';
import { pieceType, type SentencePieceModel } from '../hf/sentencepiece-model.js';
import { encodeSentencePieceModel } from '../hf/sentencepiece-writer.js';

// TrainerSpec.model_type 1: unigram, how Llama's tokenizer.model is trained and scored.
const unigram = 1;

/**
 * The Hugging Face tokenizer files of a SentencePiece ("llama") GGUF vocabulary: tokenizer.model
 * and tokenizer_config.json, so that a converted folder carries its own tokenizer and converts
 * back to the same GGUF vocabulary. Undefined for other vocabularies (byte-level BPE needs a
 * tokenizer.json, which is not written yet).
 */
export function hfTokenizerFilesFromGguf(
  metadata: ReadonlyMap<string, GgufValue>,
): Map<string, Uint8Array> | undefined {
  const model = metadata.get('tokenizer.ggml.model');
  const tokens = metadata.get('tokenizer.ggml.tokens');
  if (model?.type !== 'string' || model.value !== 'llama') return undefined;
  if (tokens?.type !== 'array' || tokens.itemType !== 'string') return undefined;
  const pieces = tokens.value as readonly string[];
  const numbers = (key: string): ArrayLike<number> | undefined => {
    const value = metadata.get(key);
    return value?.type === 'array' && typeof value.value[0] !== 'object' && typeof value.value[0] !== 'string'
      ? (value.value as ArrayLike<number>)
      : undefined;
  };
  const id = (key: string, fallback: number): number => {
    const value = metadata.get(`tokenizer.ggml.${key}`);
    return value !== undefined && typeof value.value === 'number' ? value.value : fallback;
  };
  const flag = (key: string): boolean | undefined => {
    const value = metadata.get(key);
    return value?.type === 'bool' ? value.value : undefined;
  };
  const scores = numbers('tokenizer.ggml.scores');
  const types = numbers('tokenizer.ggml.token_type');
  const spm: SentencePieceModel = {
    pieces,
    scores: Float32Array.from({ length: pieces.length }, (_, i) => scores?.[i] ?? 0),
    types: Int32Array.from({ length: pieces.length }, (_, i) => types?.[i] ?? pieceType.normal),
    modelType: unigram,
    unkId: id('unknown_token_id', 0),
    bosId: id('bos_token_id', 1),
    eosId: id('eos_token_id', 2),
    padId: id('padding_token_id', -1),
    addDummyPrefix: flag('tokenizer.ggml.add_space_prefix') ?? true,
  };
  const config: Record<string, unknown> = { tokenizer_class: 'LlamaTokenizer' };
  const piece = (i: number): string | undefined => (i >= 0 ? pieces[i] : undefined);
  if (piece(spm.bosId) !== undefined) config['bos_token'] = piece(spm.bosId);
  if (piece(spm.eosId) !== undefined) config['eos_token'] = piece(spm.eosId);
  if (piece(spm.unkId) !== undefined) config['unk_token'] = piece(spm.unkId);
  const addBos = flag('tokenizer.ggml.add_bos_token');
  const addEos = flag('tokenizer.ggml.add_eos_token');
  if (addBos !== undefined) config['add_bos_token'] = addBos;
  if (addEos !== undefined) config['add_eos_token'] = addEos;
  const template = metadata.get('tokenizer.chat_template');
  if (template?.type === 'string') config['chat_template'] = template.value;
  return new Map([
    [HF_SENTENCEPIECE_FILE, encodeSentencePieceModel(spm)],
    [HF_TOKENIZER_CONFIG_FILE, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`)],
  ]);
}
