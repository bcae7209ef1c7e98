export { openModel, openTokenizer, type OpenModelOptions } from './open-model-file.js';
export {
  quantizeModelGptq,
  type QuantizeModelGptqOptions,
  type QuantizeModelGptqResult,
} from './quantize-model-gptq.js';
