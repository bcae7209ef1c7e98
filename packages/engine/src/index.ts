export { Generator } from './generator.js';
export type { FinishReason, GenerateRequest, GenerateResult, GeneratorOptions } from './generator.js';
export { ContextLengthError, EngineRequestError } from './errors.js';
