export { Engine, engineOptionsSchema, type EngineOptions, type GenerateOptions } from './engine.js';
export {
  generateRequestSchema,
  samplingSchema,
  parseGenerateRequest,
  type GenerateRequest,
  type ParsedGenerateRequest,
  type ResolvedSampling,
  type SamplingOptions,
} from './generate-request.js';
export type { CompletionResult, FinishReason, GenerationDelta } from './completion.js';
export { RequestStream, type GenerationResult } from './request-stream.js';
export type { EngineTotals, StepRecord } from './step-record.js';
export { StopStringMatcher, type StopScan } from './stop-strings.js';
export { GrammarCache, GrammarError, GrammarState, grammarSpecSchema, type GrammarSpec } from './grammar.js';
export { loadXGrammar, type XGrammar } from './xgrammar-module.js';
export { ContextLengthError, EngineClosedError, EngineRequestError, QueueFullError } from './errors.js';
export {
  argmax,
  klDivergence,
  KlDivergenceAccumulator,
  logSoftmax,
  meanAndStderr,
  median,
  percentile,
  PerplexityAccumulator,
  perplexityWindows,
  type Estimate,
  type KlDivergenceResult,
  type PerplexityResult,
  type ScoredWindow,
} from './perplexity.js';
