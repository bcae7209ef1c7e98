export { adapterDisplayName, GpuContext, BufferUsage } from './runtime/gpu-context.js';
export type {
  GpuContextOptions,
  GpuFeatureName,
  GpuFeatures,
  GpuRequiredLimits,
  KernelSource,
  LiveBufferStats,
} from './runtime/gpu-context.js';
export { StepRecorder } from './runtime/step-recorder.js';
export type { BufferBindingLike } from './runtime/step-recorder.js';
export {
  GpuDeviceError,
  GpuFeatureError,
  GpuLimitError,
  GpuUnavailableError,
  KernelShapeError,
  LogitsProcessorError,
} from './runtime/errors.js';
export { kernelKind } from './runtime/kernel-profile.js';
export {
  adapterMethod,
  measureAdapter,
  measureRead,
  type AdapterRead,
  type AdapterRoofline,
  type AdapterRooflineOptions,
} from './runtime/adapter-roofline.js';
export type { KernelKindProfile, KernelProfile } from './runtime/kernel-profile.js';
export { formatProfile, summarizeProfile } from './runtime/profile-summary.js';
export type { KernelKindSummary, ProfileSummary } from './runtime/profile-summary.js';

export { concatMatrices, GpuMatrix, matrixRowStride, uploadMatrix } from './kernels/matrix.js';
export { repackBlocks, repackedBlockBytes, repackedWords } from './kernels/block-repack.js';
export type { BlockMatrixDtype, RepackedBlocks } from './kernels/block-repack.js';
export type { GpuMatrixPart, MatrixLayout, UploadMatrixOptions } from './kernels/matrix.js';
export { hadamardRows } from './kernels/hadamard.js';
export type { HadamardRowsArgs } from './kernels/hadamard.js';
export { linear, linearKernelFor, LINEAR_X_SLACK_TOKENS, MATVEC_MAX_ROWS } from './kernels/linear.js';
export type { LinearAdapter, LinearArgs, LinearKernelKind, LinearOutputArgs, LinearRope } from './kernels/linear.js';
export type { StreamShape } from './kernels/linear.wgsl.js';
export { i8RowWords, I8Matrix, linearI8, quantizeActivationsI8, uploadI8Matrix } from './kernels/w8a8.js';
export type { I8Activations, LinearI8Args, QuantizeActivationsArgs, UploadI8Options } from './kernels/w8a8.js';
export { embedding } from './kernels/embedding.js';
export type { EmbeddingArgs } from './kernels/embedding.js';
export { rmsNorm } from './kernels/rms-norm.js';
export type { RmsNormArgs } from './kernels/rms-norm.js';
export { rope, ropeWritesKv } from './kernels/rope.js';
export type { RopeArgs, RopeKvWrite } from './kernels/rope.js';
export type { RopeLayout } from './kernels/rope.wgsl.js';
export { siluMul } from './kernels/silu-mul.js';
export type { SiluMulArgs } from './kernels/silu-mul.js';
export { add } from './kernels/add.js';
export type { AddArgs } from './kernels/add.js';
export { gatherColumns, type GatherColumnsArgs } from './kernels/gather-columns.js';
export { gatherRows } from './kernels/gather-rows.js';
export type { GatherRowsArgs } from './kernels/gather-rows.js';
export { argmax } from './kernels/argmax.js';
export type { ArgmaxArgs } from './kernels/argmax.js';
export { packSamplingParams, sample } from './kernels/sample.js';
export type { SampleArgs, SamplingRowParams } from './kernels/sample.js';
export { SAMPLING_PARAMS_WORDS } from './kernels/sample.wgsl.js';
export { SamplingRandom } from './kernels/sampling-random.js';
export { tokenMask, tokenMaskWords } from './kernels/token-mask.js';
export type { TokenMaskArgs } from './kernels/token-mask.js';
export { logitsProcessors } from './kernels/logits-processors.js';
export type { LogitsProcessorsArgs } from './kernels/logits-processors.js';
export {
  LOGITS_PROCESSOR_ENTRY_WORDS,
  LOGITS_PROCESSOR_MAX_VOCAB,
  LOGITS_PROCESSOR_ROW_WORDS,
  LogitsProcessorFlag,
  packLogitsProcessors,
} from './kernels/pack-logits-processors.js';
export type { PackedLogitsProcessors, RowLogitsProcessors } from './kernels/pack-logits-processors.js';
export { NO_TOKEN, readTopLogprobs, topLogprobs, topLogprobsBytes } from './kernels/top-logprobs.js';
export type { TokenLogprob, TopLogprobsArgs, TopLogprobsRow } from './kernels/top-logprobs.js';
export { MAX_TOP_LOGPROBS } from './kernels/top-logprobs.wgsl.js';
export { kvWrite } from './kernels/kv-write.js';
export type { KvWriteArgs } from './kernels/kv-write.js';
export {
  kvI4Format,
  kvI8Format,
  kvPoolFormat,
  kvPoolRowBytes,
  packKvI4Pool,
  packKvI8Pool,
  unpackKvI4Pool,
  unpackKvI8Pool,
} from './kernels/kv-pool-format.js';
export { pagedAttentionNaive, validatePagedAttentionBatch } from './kernels/paged-attention-naive.js';
export type { PagedAttentionBatch } from './kernels/paged-attention-batch.js';
export {
  F16_NATIVE_STORAGE,
  F16_PACKED_STORAGE,
  F32_STORAGE,
  storageElementBytes,
  storageFormat,
} from './kernels/storage-format.js';
export type { BlockReads, ReadUnit, StorageFormat } from './kernels/storage-format.js';
export { KernelDeclaration, declareKernel, declaredKernel } from './kernels/kernel-declaration.js';
export type {
  BindingDecl,
  BindingValues,
  DeclaredBinding,
  DeclaredKernel,
  FormatBinding,
  KernelSpec,
  ParamField,
  ParamType,
  ParamValue,
  ParamValues,
  TypedBinding,
} from './kernels/kernel-declaration.js';
export { fixedSubgroupSize, grid1d } from './kernels/workgroup-grid.js';
export {
  int8ActivationsSupported,
  isPairsDtype,
  PAIRS_DTYPES,
  quantizeGroupsI8,
  repackPairs,
  requireInt8Activations,
  type Int8Activations,
  type NormInt8Output,
  type PairsDtype,
  type QuantizeGroupsI8Args,
} from './kernels/int8-pairs.js';
export { I8_QUANTIZE_WGSL } from './kernels/i8-quantize.wgsl.js';

export * as reference from './reference/index.js';
