export { buildAttentionCase, referenceRows, roundKvToF16, sliceBatch } from './attention-case.js';
export type { AttentionCaseSpec, HostAttentionCase, SequenceShape, SequenceSlice } from './attention-case.js';
export { uploadAttentionCase } from './gpu-case.js';
export type { GpuAttentionCase } from './gpu-case.js';
