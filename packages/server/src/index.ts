export { LlmServer, llmServerOptionsSchema, type LlmServerOptions } from './llm-server.js';
export { ServerError, type OpenAiErrorBody, type ServerErrorOptions } from './server-error.js';
export type {
  ChatMessage,
  ChatPromptRenderer,
  FinishReason,
  ServedModel,
  ServingDelta,
  ServingEngine,
  ServingRequest,
  ServingResult,
  ServingStream,
  ServingTotals,
  TokenLogprob,
  TopLogprobsRow,
} from './serving-engine.js';
