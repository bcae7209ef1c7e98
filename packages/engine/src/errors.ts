import { LlmError } from '@llm/quant';

/** A request the engine cannot run as given; the message says what to change. */
export class EngineRequestError extends LlmError {
  override readonly name: string = 'EngineRequestError';
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

export class ContextLengthError extends EngineRequestError {
  override readonly name = 'ContextLengthError';
  constructor(
    readonly promptTokens: number,
    readonly contextLength: number,
  ) {
    super(
      `the prompt has ${promptTokens} tokens but the model's context holds ${contextLength}; ` +
        'shorten the prompt',
    );
  }
}

/** The waiting queue is at its limit; the request was not queued (retry later). */
export class QueueFullError extends LlmError {
  override readonly name = 'QueueFullError';
  constructor(readonly maxWaiting: number) {
    super('resource_exhausted', `the engine already has ${maxWaiting} requests waiting; retry later`);
  }
}

/** The engine was closed; it takes no more requests. */
export class EngineClosedError extends LlmError {
  override readonly name = 'EngineClosedError';
  constructor() {
    super('unavailable', 'the engine is closed');
  }
}
