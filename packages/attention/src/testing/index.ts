export { buildAttentionCase, referenceRows, roundKvToF16 } from './attention-case.js';
export type { AttentionCaseSpec, HostAttentionCase, SequenceShape } from './attention-case.js';
export { uploadAttentionCase } from './gpu-case.js';
export type { GpuAttentionCase } from './gpu-case.js';
