import { LlamaCppTokenizer } from './llama-tokenizer.js';
import { loadLlamaVocabulary } from './llama-vocabulary.js';
import { InvalidVocabularyError } from './tokenizer-errors.js';

// llama_token_type values, as GGUF stores them.
const TYPE_NORMAL = 1;
const TYPE_UNKNOWN = 2;
const TYPE_CONTROL = 3;
const TYPE_BYTE = 6;

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/**
 * The tokenizer of a llama2.c `tokenizer.bin` (SentencePiece pieces with scores, no token types).
 * llama2.c's export wrote spaces for SentencePiece's U+2581 and "\n<s>\n" / "\n</s>\n" for BOS (1)
 * and EOS (2); those are undone here so the vocabulary reads like its GGUF conversion: <unk> 0,
 * control tokens 1 and 2, byte tokens <0xXX>, BOS added on encode and the dummy space prefix on.
 */
export function tokenizerFromLlama2c(tokenizer: {
  readonly tokens: readonly string[];
  readonly scores: ArrayLike<number>;
}): LlamaCppTokenizer {
  const { tokens, scores } = tokenizer;
  if (tokens.length < 3) {
    throw new InvalidVocabularyError(
      `a llama2.c vocabulary needs <unk>, BOS and EOS; this one has ${tokens.length} tokens`,
    );
  }
  if (scores.length !== tokens.length) {
    throw new InvalidVocabularyError(
      `llama2.c vocabulary has ${tokens.length} tokens but ${scores.length} scores`,
    );
  }
  const pieces = tokens.map((t, id) => {
    if (id === 1 && t === '\n<s>\n') return '<s>';
    if (id === 2 && t === '\n</s>\n') return '</s>';
    return t.replaceAll(' ', '\u2581');
  });
  const types = Int32Array.from(pieces, (p, id) =>
    id === 0 ? TYPE_UNKNOWN : id <= 2 ? TYPE_CONTROL : BYTE_PIECE.test(p) ? TYPE_BYTE : TYPE_NORMAL,
  );
  return new LlamaCppTokenizer(
    loadLlamaVocabulary(
      new Map<string, unknown>([
        ['tokenizer.ggml.model', 'llama'],
        ['tokenizer.ggml.tokens', pieces],
        ['tokenizer.ggml.scores', Float32Array.from(scores)],
        ['tokenizer.ggml.token_type', types],
        ['tokenizer.ggml.bos_token_id', 1],
        ['tokenizer.ggml.eos_token_id', 2],
        ['tokenizer.ggml.unknown_token_id', 0],
      ]),
    ),
  );
}
