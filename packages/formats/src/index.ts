export type { LlamaConfig, RopeLayout, RopeScaling, TensorInfo, WeightSource } from './weight-source.js';
export { GgufFormatError, Llama2cFormatError, ModelFileError, UnsupportedModelError } from './errors.js';

export { ByteSourceError, readText, type ByteSource } from './io/byte-source.js';
export { MemorySink, type ByteSink } from './io/byte-sink.js';
export { blobSource } from './io/blob-source.js';
export { httpRangeSource, type HttpRangeSourceOptions } from './io/http-range-source.js';
export { blobFolder, type ModelFolder, type ModelFolderSink } from './io/model-folder.js';

export {
  ggufValue,
  type GgufArray,
  type GgufScalar,
  type GgufValue,
  type GgufValueType,
} from './gguf/gguf-value.js';
export { GgufFile, openGgufSource, type GgufTensorInfo } from './gguf/gguf-file.js';
export {
  expectedLlamaShapes,
  ggufWeightSource,
  llamaConfigFromGguf,
  openGgufWeightSourceFrom,
} from './gguf/gguf-weight-source.js';
export {
  writeGgufTo,
  type GgufTensorToWrite,
  type TensorChunk,
  type TensorData,
  type WriteGgufOptions,
} from './gguf/gguf-writer.js';

export { readLlama2cTokenizerSource, type Llama2cTokenizer } from './llama2c/llama2c-tokenizer.js';
export {
  llama2cConfig,
  openLlama2cCheckpointSource,
  parseLlama2cHeader,
  type Llama2cCheckpoint,
  type Llama2cHeader,
} from './llama2c/llama2c-checkpoint.js';

export { SafetensorsFormatError, type SafetensorsProblem } from './safetensors/safetensors-format-error.js';
export { safetensorsDtypeBits, type SafetensorsDtype } from './safetensors/safetensors-dtype.js';
export type { SafetensorsTensor } from './safetensors/safetensors-header.js';
export { openSafetensorsSource, type SafetensorsFile } from './safetensors/safetensors-reader.js';
export { writeSafetensorsTo, type SafetensorsTensorSource } from './safetensors/safetensors-writer.js';

export { HfFormatError, type HfProblem } from './hf/hf-format-error.js';
export { hfConfigFromLlama, llamaConfigFromHf } from './hf/hf-config.js';
export { ggufNameOf, hfNameOf } from './hf/hf-tensor-names.js';
export { HF_CONFIG_FILE, HF_INDEX_FILE, HF_QUANTIZE_CONFIG_FILE, HF_WEIGHTS_FILE, openHfFolderSource } from './hf/hf-weight-source.js';
export { writeHfFolderTo, type HfFolderContents } from './hf/hf-folder-writer.js';
export {
  HF_SENTENCEPIECE_FILE,
  HF_TOKENIZER_CONFIG_FILE,
  HF_TOKENIZER_JSON_FILE,
  optionalJson,
  readHfSentencePieceTokenizer,
  type HfSentencePieceTokenizer,
} from './hf/hf-tokenizer-files.js';
export { parseSentencePieceModel, type SentencePieceModel } from './hf/sentencepiece-model.js';
export { encodeSentencePieceModel } from './hf/sentencepiece-writer.js';
export { hfTokenizerFilesFromGguf } from './convert/hf-tokenizer-from-gguf.js';

export { detectFileFormat, startsWithGgufMagic, type ModelFormat } from './model-format.js';
export { ModelConvertError } from './convert/model-convert-error.js';
export { sentencePieceTokenizerMetadata } from './convert/gguf-llama-metadata.js';
export { permuteRopeRows } from './convert/rope-permutation.js';
export { castTensor, type TensorArray } from './convert/tensor-cast.js';

export { normalQuantile, normalTable } from './synthetic/normal-table.js';
export { SeededRandom } from './synthetic/seeded-random.js';
export {
  llama31RopeFactors,
  llama3RopeFreqFactors,
  syntheticLlamaPresets,
  syntheticVocabulary,
  writeSyntheticLlamaGgufTo,
  type Llama3RopeFactors,
  type SyntheticArchitecture,
  type SyntheticLlamaOptions,
  type SyntheticQuantization,
  type SyntheticLlamaPreset,
  type SyntheticLlamaResult,
  type SyntheticLlamaShape,
} from './synthetic/synthetic-llama.js';
export {
  chatTemplateOf,
  chatTemplateOfGguf,
  chatTemplateOfHfFiles,
  HF_ADDITIONAL_CHAT_TEMPLATES_DIR,
  HF_CHAT_TEMPLATE_JINJA_FILE,
  HF_CHAT_TEMPLATE_JSON_FILE,
  type ChatTemplateQuery,
  type HfChatTemplateFiles,
  type ModelChatTemplate,
} from './model-chat-template.js';
export {
  describeModelFolder,
  describeModelSource,
  type JsonValue,
  type ModelFileSummary,
} from './describe-model.js';
export {
  bitField,
  groupCount,
  groupDtypeFor,
  reorderInputs,
  restoreInputOrder,
  toGroupBlocks,
  type UnpackedLinear,
} from './quantized/int-packing.js';
export {
  gptqShapes,
  packGptq,
  unpackGptq,
  type GptqCheckpointFormat,
  type GptqTensors,
} from './quantized/gptq-packing.js';
export { awqShapes, packAwq, unpackAwq, type AwqTensors } from './quantized/awq-packing.js';
export { parseIntQuantization, type IntQuantization } from './quantized/quantization-config.js';
