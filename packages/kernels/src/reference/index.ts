export { linear } from './linear.js';
export type { LinearReferenceArgs } from './linear.js';
