import { LlmError, type ErrorCode } from '@llm/quant';

/** Base class of every error this package throws; `instanceof SchedulerError` catches them all. */
export class SchedulerError extends LlmError {
  override name = 'SchedulerError';

  constructor(message: string, code: ErrorCode = 'invalid_argument') {
    super(code, message);
  }
}

/** Scheduler options failed validation; the message lists each offending field. */
export class SchedulerOptionsError extends SchedulerError {
  override name = 'SchedulerOptionsError';
}

/** A request failed validation (empty prompt, bad token id, maxTokens not a positive integer). */
export class InvalidRequestError extends SchedulerError {
  override name = 'InvalidRequestError';

  constructor(
    readonly requestId: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class DuplicateRequestError extends SchedulerError {
  override name = 'DuplicateRequestError';

  constructor(
    readonly requestId: string,
    operation: string,
  ) {
    super(
      `${operation}: request ${JSON.stringify(requestId)} is already live; use a fresh id, or ` +
        `finish() / abort() the old one first.`,
    );
  }
}

export class UnknownRequestError extends SchedulerError {
  override name = 'UnknownRequestError';

  constructor(
    readonly requestId: string,
    operation: string,
  ) {
    super(
      `${operation}: no live request ${JSON.stringify(requestId)} (never added, or already ` +
        `finished or aborted); add() it first.`,
      'not_found',
    );
  }
}

/**
 * The prompt plus maxTokens needs more blocks than the pool keeps above the watermark, so the
 * request could not run even alone. Refused at add(), so a lone sequence always fits.
 */
export class RequestTooLongError extends InvalidRequestError {
  override name = 'RequestTooLongError';

  constructor(
    requestId: string,
    readonly promptTokens: number,
    readonly maxTokens: number,
    readonly neededBlocks: number,
    readonly usableBlocks: number,
    blockSize: number,
  ) {
    const room = usableBlocks * blockSize - promptTokens;
    const remedy =
      room > 0
        ? `lower maxTokens to at most ${room}, shorten the prompt,`
        : `shorten the prompt to under ${usableBlocks * blockSize} tokens`;
    super(
      requestId,
      `add(${JSON.stringify(requestId)}): prompt (${promptTokens} tokens) + maxTokens ` +
        `(${maxTokens}) needs ${neededBlocks} KV blocks of ${blockSize} tokens, but only ` +
        `${usableBlocks} blocks are usable (numBlocks minus the watermark); ${remedy} or plan a ` +
        `larger KV pool.`,
    );
  }
}

/**
 * A call came out of the step protocol's order: schedule() while the previous step awaits
 * update(), update() with a stale output or without a sampled token it needs, fork() of a
 * sequence that is not at a sampling point.
 */
export class SchedulerOrderError extends SchedulerError {
  override name = 'SchedulerOrderError';
}
