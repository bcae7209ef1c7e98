export { buildAttentionCase, referenceRows, roundKvToF16, roundKvToI4, roundKvToI8, sliceBatch } from './attention-case.js';
export type { AttentionCaseSpec, HostAttentionCase, SequenceShape, SequenceSlice } from './attention-case.js';
export { uploadAttentionCase } from './gpu-case.js';
export type { GpuAttentionCase } from './gpu-case.js';
