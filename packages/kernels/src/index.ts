export { GpuContext, BufferUsage } from './runtime/gpu-context.js';
export type {
  GpuContextOptions,
  GpuFeatureName,
  GpuFeatures,
  GpuRequiredLimits,
  KernelSource,
} from './runtime/gpu-context.js';
export { StepRecorder } from './runtime/step-recorder.js';
export type { BufferBindingLike } from './runtime/step-recorder.js';
export { GpuDeviceError, GpuLimitError, GpuUnavailableError, KernelShapeError } from './runtime/errors.js';
export type { PagedAttentionBatch } from './kernels/paged-attention-batch.js';
