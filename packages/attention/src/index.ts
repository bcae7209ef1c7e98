export { attention, attentionScratchBytes } from './attention.js';
export type { AttentionDispatch, AttentionMode, AttentionOptions, PrefillKernelKind } from './attention.js';
// K/V scatter into the paged pool: @llm/kernels' kvWrite already covers a whole packed batch.
export { kvWrite } from '@llm/kernels';
export type { KvWriteArgs } from '@llm/kernels';
