import { LlmError, type ErrorCode } from '@llm/quant';
import type { SequenceId } from './sequence.js';

/** Base class of every error this package throws; `instanceof KvCacheError` catches them all. */
export class KvCacheError extends LlmError {
  override name = 'KvCacheError';

  constructor(message: string, code: ErrorCode = 'invalid_argument') {
    super(code, message);
  }
}

/** Options or arguments failed validation; the message lists each offending field. */
export class KvCacheOptionsError extends KvCacheError {
  override name = 'KvCacheOptionsError';
}

export type BlockPoolName = 'gpu' | 'host';

/**
 * Not enough free (or evictable cached) blocks for an operation. Nothing was changed: the caller
 * can preempt or swap out a sequence and retry.
 */
export class KvCacheExhaustedError extends KvCacheError {
  override name = 'KvCacheExhaustedError';

  constructor(
    readonly pool: BlockPoolName,
    readonly neededBlocks: number,
    readonly availableBlocks: number,
    readonly totalBlocks: number,
    operation: string,
  ) {
    const remedy =
      pool === 'gpu'
        ? 'free, preempt or swap out a running sequence first, or plan a larger KV budget (more blocks)'
        : 'raise numHostBlocks (the swap space) or preempt by recomputation instead of swapping';
    super(
      `${operation} needs ${neededBlocks} ${pool} KV blocks but only ${availableBlocks} of ` +
        `${totalBlocks} are available; ${remedy}.`,
      'resource_exhausted',
    );
  }
}

export class UnknownSequenceError extends KvCacheError {
  override name = 'UnknownSequenceError';

  constructor(
    readonly sequenceId: SequenceId,
    operation: string,
  ) {
    super(
      `${operation}: sequence ${String(sequenceId)} is not allocated (never allocated, or already ` +
        `freed); allocate() or fork() it first.`,
      'not_found',
    );
  }
}

export class DuplicateSequenceError extends KvCacheError {
  override name = 'DuplicateSequenceError';

  constructor(
    readonly sequenceId: SequenceId,
    operation: string,
  ) {
    super(
      `${operation}: sequence ${String(sequenceId)} already exists; use a fresh id, or free() the ` +
        `old sequence first.`,
    );
  }
}

/** The sequence lives in the other pool (e.g. append on a swapped-out sequence). */
export class SequenceLocationError extends KvCacheError {
  override name = 'SequenceLocationError';

  constructor(
    readonly sequenceId: SequenceId,
    readonly location: BlockPoolName,
    operation: string,
  ) {
    const remedy =
      location === 'host' ? `swapIn([${JSON.stringify(sequenceId)}]) it first` : 'it is already resident';
    super(`${operation}: sequence ${String(sequenceId)} is in ${location} memory; ${remedy}.`);
  }
}

/** Token ids that cannot describe KV content (empty prompt, non-integer or negative ids). */
export class InvalidTokensError extends KvCacheError {
  override name = 'InvalidTokensError';
}

/** The memory planner cannot produce a usable pool from the given budget and model shape. */
export class KvPlanError extends KvCacheError {
  override name = 'KvPlanError';

  constructor(message: string) {
    super(message, 'resource_exhausted');
  }
}

/**
 * An internal structure is inconsistent (a double free, a refcount below zero). Seeing one is a
 * bug in this package, never in the caller.
 */
export class KvCacheInvariantError extends KvCacheError {
  override name = 'KvCacheInvariantError';

  constructor(message: string) {
    super(message, 'internal');
  }
}
