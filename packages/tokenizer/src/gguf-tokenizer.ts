import { LlamaCppTokenizer } from './llama-tokenizer.js';
import { loadLlamaVocabulary } from './llama-vocabulary.js';

/**
 * The tokenizer stored in GGUF metadata (`tokenizer.ggml.*`), as llama.cpp reads it. Takes the
 * metadata map of a GGUF reader (tagged `{type, value}` entries) or a map of bare values; a
 * vocabulary-only file is enough.
 */
export function tokenizerFromGguf(metadata: ReadonlyMap<string, unknown>): LlamaCppTokenizer {
  return new LlamaCppTokenizer(loadLlamaVocabulary(metadata));
}
