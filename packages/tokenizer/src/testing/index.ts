export { readVocabVectors, VOCABS_WITH_VECTORS, type VocabVector } from './vocab-vectors.js';
export {
  CHATML_QWEN2_TEMPLATE,
  GEMMA_TEMPLATE,
  LLAMA2_TEMPLATE,
  LLAMA3_TEMPLATE,
  MISTRAL_TEMPLATE,
} from './chat-templates.js';
