export { attention, attentionScratchBytes } from './attention.js';
export type { AttentionDispatch, AttentionMode, AttentionOptions } from './attention.js';
export { attentionReference } from './attention-reference.js';
export type { HostAttentionInputs } from './attention-reference.js';
export { AttentionShapeError } from './errors.js';
