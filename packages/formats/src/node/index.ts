export { fileSource } from './file-source.js';
export { fileSystemError } from './file-system-error.js';
export { directorySink, fileSink } from './file-sink.js';
export { directoryFolder } from './directory-folder.js';
export {
  openGguf,
  openGgufWeightSource,
  openHfFolder,
  openLlama2cCheckpoint,
  openSafetensors,
  readLlama2cTokenizer,
  readSentencePieceModel,
  writeGguf,
  writeHfFolder,
  writeSafetensors,
  writeSyntheticLlamaGguf,
} from './open-files.js';
export { detectModelFormat, isGgufFile, type DetectedModel } from './detect-format.js';
export { describeModelFile } from './describe-model-file.js';
export {
  convertModel,
  type ConvertOptions,
  type ConvertProgress,
  type ConvertResult,
  type EncodedTensor,
} from './convert-model.js';
export {
  quantizeModel,
  type QuantizedTensor,
  type QuantizeModelOptions,
  type QuantizeModelResult,
} from './quantize-model.js';
export {
  resolveModelReference,
  type ResolveModelOptions,
  type ResolvedModel,
} from './resolve-model-reference.js';
export type { DownloadProgress } from './download-file.js';
export { parseModelReference, type ModelReference } from './model-reference.js';
export { ModelDownloadError, type ModelDownloadProblem } from './model-download-error.js';
export { defaultModelCacheDir } from './model-cache.js';
