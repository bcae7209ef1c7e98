export { Scheduler } from './scheduler.js';
export {
  schedulerOptionsSchema,
  type ResolvedSchedulerOptions,
  type SchedulerOptions,
} from './scheduler-options.js';
export { schedulerRequestSchema, type SchedulerRequest } from './scheduler-request.js';
export type { ScheduledChunk, SchedulerOutput, SchedulerStats } from './scheduler-output.js';
export type { SequenceStatus } from './sequence.js';
export type { BlockCopy, SwapCopy } from '@llm/kvcache';
export {
  DuplicateRequestError,
  InvalidRequestError,
  RequestTooLongError,
  SchedulerError,
  SchedulerOptionsError,
  SchedulerOrderError,
  UnknownRequestError,
} from './errors.js';
