export type {
  DecodeOptions,
  EncodeOptions,
  StreamDecoder,
  StreamDecoderOptions,
  Tokenizer,
} from './tokenizer.js';
export {
  InvalidVocabularyError,
  TokenizerError,
  TokenizerModelMismatchError,
  UnknownPreTokenizerError,
  UnsupportedTokenizerError,
} from './tokenizer-errors.js';
export { tokenizerFromGguf } from './gguf-tokenizer.js';
export { tokenizerFromLlama2c } from './llama2c-vocabulary.js';
export { HfJsonTokenizer, tokenizerFromJson } from './hf-tokenizer.js';
export { LlamaCppTokenizer } from './llama-tokenizer.js';
export { TokenAttr, type LlamaVocabulary, type SpecialTokenIds } from './llama-vocabulary.js';
export { supportedPreTokenizers } from './pre-tokenizers.js';
export { checkTokenizerFitsModel } from './tokenizer-model-fit.js';
