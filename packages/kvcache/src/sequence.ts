import type { BlockPoolName } from './errors.js';

/** Caller-chosen id of one sequence (a request, or one of its n samples / beams). */
export type SequenceId = string | number;

/** Per-sequence bookkeeping; the block table is the only part whose size grows with length. */
export interface SequenceState {
  readonly id: SequenceId;
  /** Logical block i of the sequence lives in physical block blocks[i] of `location`'s pool. */
  blocks: number[];
  numTokens: number;
  location: BlockPoolName;
  /** Extra prefix-cache key (LoRA id, cache salt); '' is none. */
  readonly cacheKey: string;
  /** Token ids in the partly filled last block, hashed when it fills (prefix caching only). */
  tail: Int32Array | null;
  /** Hash, canonical cached block and its generation of the last published full block. */
  chainHash: number;
  chainBlock: number;
  chainGeneration: number;
  /** False once the chain broke (parent evicted, hash collision): later blocks stay private. */
  chainOk: boolean;
  /** False once the last block is known to be private: appends then skip the refcount read. */
  lastMaybeShared: boolean;
  /** Full blocks already offered to the prefix cache. */
  publishedBlocks: number;
  /** Prompt tokens of full blocks not yet published, starting at block `pendingFirstBlock`. */
  pending: Int32Array | null;
  pendingFirstBlock: number;
  /**
   * Position of a token appended as PENDING_TOKEN whose id is not known yet (its K/V slot is
   * taken; its block is published once resolvePendingToken() names it), or -1.
   */
  pendingTokenAt: number;
}
