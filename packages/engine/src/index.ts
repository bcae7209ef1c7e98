export { Generator } from './generator.js';
export type { FinishReason, GenerateRequest, GenerateResult, GeneratorOptions } from './generator.js';
export { SeededRandom } from './seeded-random.js';
export { ContextLengthError, EngineRequestError } from './errors.js';
