export type {
  DecodeOptions,
  EncodeOptions,
  StreamDecoder,
  StreamDecoderOptions,
  Tokenizer,
} from './tokenizer.js';
export {
  ChatTemplateError,
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
export {
  ChatTemplate,
  type ChatMessage,
  type ChatRenderOptions,
  type ChatTemplateOptions,
  type ChatTemplateTokens,
  type ChatTextPart,
  type ChatToolCall,
} from './chat-template.js';
export { FALLBACK_CHAT_TEMPLATE } from './fallback-chat-template.js';
export { ChatPrompter, chatTemplateTokens, encodeChatPrompt } from './chat-prompt.js';
