export type {
  LlamaConfig,
  RopeLayout,
  RopeScaling,
  TensorDtype,
  TensorInfo,
  WeightSource,
} from './formats/weight-source.js';

export {
  GgufFormatError,
  Llama2cFormatError,
  ModelFileError,
  UnsupportedModelError,
} from './formats/errors.js';
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
export {
  expectedLlamaShapes,
  ggufWeightSource,
  llamaConfigFromGguf,
  openGgufWeightSource,
} from './formats/gguf/gguf-weight-source.js';
export {
  writeGguf,
  type GgufTensorToWrite,
  type TensorChunk,
  type TensorData,
  type WriteGgufOptions,
} from './formats/gguf/gguf-writer.js';
export {
  llama2cConfig,
  openLlama2cCheckpoint,
  parseLlama2cHeader,
  type Llama2cCheckpoint,
  type Llama2cHeader,
} from './formats/llama2c/llama2c-checkpoint.js';
export { openModel, openTokenizer, type OpenedModel, type OpenModelOptions } from './open-model.js';
export { packBatch, BatchShapeError, type PackedBatch, type SequenceChunk } from './llama/forward-batch.js';
export { GREEDY, type ModelRunner, type SamplingParams, type SamplingRequest } from './llama/model-runner.js';
export { KvPoolError, type RunnerOptions } from './llama/runner-options.js';
export { GpuModelRunner } from './llama/gpu-runner.js';
export { CpuModelRunner } from './llama/cpu-runner.js';
export { normalQuantile, normalTable, SeededRandom } from './formats/synthetic/seeded-random.js';
export {
  llama31RopeFactors,
  llama3RopeFreqFactors,
  syntheticLlamaPresets,
  syntheticVocabulary,
  writeSyntheticLlamaGguf,
  type Llama3RopeFactors,
  type SyntheticArchitecture,
  type SyntheticLlamaOptions,
  type SyntheticLlamaPreset,
  type SyntheticLlamaResult,
  type SyntheticLlamaShape,
} from './formats/synthetic/synthetic-llama.js';
export { describeModelFile, type JsonValue, type ModelFileSummary } from './formats/describe-model-file.js';

export type {
  DecodeOptions,
  EncodeOptions,
  StreamDecoder,
  StreamDecoderOptions,
  Tokenizer,
} from './tokenizer/tokenizer.js';
export {
  InvalidVocabularyError,
  TokenizerError,
  TokenizerModelMismatchError,
  UnknownPreTokenizerError,
  UnsupportedTokenizerError,
} from './tokenizer/tokenizer-errors.js';
export { tokenizerFromGguf } from './tokenizer/gguf-tokenizer.js';
export { tokenizerFromLlama2c } from './tokenizer/llama2c-vocabulary.js';
export { HfJsonTokenizer, tokenizerFromJson } from './tokenizer/hf-tokenizer.js';
export { LlamaCppTokenizer } from './tokenizer/llama-tokenizer.js';
export { TokenAttr, type LlamaVocabulary, type SpecialTokenIds } from './tokenizer/llama-vocabulary.js';
export { supportedPreTokenizers } from './tokenizer/pre-tokenizers.js';
export { checkTokenizerFitsModel } from './tokenizer/tokenizer-model-fit.js';

export {
  SafetensorsFormatError,
  type SafetensorsProblem,
} from './formats/safetensors/safetensors-format-error.js';
export { safetensorsDtypeBits, type SafetensorsDtype } from './formats/safetensors/safetensors-dtype.js';
export type { SafetensorsTensor } from './formats/safetensors/safetensors-header.js';
export { openSafetensors, type SafetensorsFile } from './formats/safetensors/safetensors-reader.js';
export { writeSafetensors, type SafetensorsTensorSource } from './formats/safetensors/safetensors-writer.js';
export { HfFormatError, type HfProblem } from './formats/hf/hf-format-error.js';
export { hfConfigFromLlama, llamaConfigFromHf } from './formats/hf/hf-config.js';
export { ggufNameOf, hfNameOf } from './formats/hf/hf-tensor-names.js';
export { openHfFolder } from './formats/hf/hf-weight-source.js';
export { writeHfFolder, type HfFolderContents } from './formats/hf/hf-folder-writer.js';
export {
  convertModel,
  type ConvertOptions,
  type ConvertProgress,
  type ConvertResult,
} from './formats/convert/convert-model.js';
export { detectModelFormat, type DetectedModel, type ModelFormat } from './formats/convert/detect-format.js';
export { ModelConvertError } from './formats/convert/model-convert-error.js';
export { permuteRopeRows } from './formats/convert/rope-permutation.js';
export { castTensor, type TensorArray } from './formats/convert/tensor-cast.js';
