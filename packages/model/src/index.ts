export {
  openModelFrom,
  openTokenizerFrom,
  type ModelInput,
  type OpenedModel,
  type OpenModelFromOptions,
} from './open-model.js';
export { packBatch, BatchShapeError, type PackedBatch, type SequenceChunk } from './llama/forward-batch.js';
export {
  GREEDY,
  type BlockCopy,
  type LogitsOptions,
  type ModelRunner,
  type SampleRequest,
  type SamplingParams,
  type StepOptions,
  type StepResult,
  type SwapCopy,
} from './llama/model-runner.js';
export { KvPoolError, kvLayerBlockBytes, kvPoolBlockBytes, type RunnerOptions } from './llama/runner-options.js';
export { GpuModelRunner } from './llama/gpu-runner.js';
export { CpuModelRunner } from './llama/cpu-runner.js';
export { gptqCalibrate, type GptqCalibrationOptions, type GptqTensor } from './llama/gptq-calibration.js';
export type { LinearInputs, LinearInputsHook, LinearWeight } from './llama/linear-inputs.js';
