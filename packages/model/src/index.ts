export type {
  LlamaConfig,
  RopeLayout,
  RopeScaling,
  TensorDtype,
  TensorInfo,
  WeightSource,
} from './formats/weight-source.js';

export { GgufFormatError, Llama2cFormatError, ModelFileError, UnsupportedModelError } from './formats/errors.js';
export { ggmlTypeById, ggmlTypeByName, ggmlTypes, type GgmlTypeInfo } from './formats/gguf/ggml-types.js';
export {
  ggufValue,
  type GgufArray,
  type GgufScalar,
  type GgufValue,
  type GgufValueType,
} from './formats/gguf/gguf-value.js';
export { GgufFile, openGguf, type GgufTensorInfo } from './formats/gguf/gguf-file.js';
export { readLlama2cTokenizer, type Llama2cTokenizer } from './formats/llama2c/llama2c-tokenizer.js';
