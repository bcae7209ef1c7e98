import type { BlockCopy, KvCacheUsage, PrefixCacheStats, SwapCopy } from '@llm/kvcache';

/** The tokens one sequence runs in one step. */
export interface ScheduledChunk {
  readonly id: string;
  /** Prompt (or recompute) tokens for a prefill chunk; the last sampled token for a decode. */
  readonly tokens: number[];
  /** Position of tokens[0]: how many tokens of this sequence are already in the KV cache. */
  readonly startPos: number;
  /**
   * Physical GPU blocks of positions 0..startPos + tokens.length - 1 (exactly the blocks that
   * cover them). Position p's K/V lives at slot blockTable[p / blockSize] * blockSize + p % blockSize.
   */
  readonly blockTable: readonly number[];
  /** The tokens come from the prompt, or from a recompute after preemption. */
  readonly isPrefill: boolean;
  /** Sample a token from the chunk's last position: a decode, or the chunk ending a prefill. */
  readonly sample: boolean;
  /**
   * A decode whose input is the token the previous step sampled, still unknown here
   * (updatePending()): `tokens` holds PENDING_TOKEN, and the engine feeds the token to the model
   * from where that step left it.
   */
  readonly pendingToken?: true;
}

/**
 * One step. Before the forward pass the engine performs, in this order: `swapOut`, then `copies`
 * (in array order), then `swapIn`. A block freed by a swap-out may be reused in the same step, so
 * its copy to the host must come first; a copy-on-write source may be freed and reused by a
 * swap-in, so the copies come before the swap-ins.
 */
export interface SchedulerOutput {
  /** 0, 1, 2, ...: pass the output back to update() with the sampled tokens. */
  readonly step: number;
  /** Every decode first (in run order), then the prefill chunks (in run order). */
  readonly chunks: ScheduledChunk[];
  readonly numDecodeTokens: number;
  readonly numPrefillTokens: number;
  /** Copy-on-write: copy GPU block src into dst (a forked sequence's shared last block). */
  readonly copies: BlockCopy[];
  /** GPU -> host block copies of sequences preempted by swapping. */
  readonly swapOut: SwapCopy[];
  /** Host -> GPU block copies of swapped sequences returning. */
  readonly swapIn: SwapCopy[];
  /** Sequences preempted while building this step (recompute or swap). */
  readonly preempted: string[];
  /** Sequences removed by abort() since the previous schedule(). */
  readonly aborted: string[];
}

/** Running totals since the scheduler was created. */
export interface SchedulerStats {
  readonly steps: number;
  /** recomputePreemptions + swapPreemptions. */
  readonly preemptions: number;
  readonly recomputePreemptions: number;
  readonly swapPreemptions: number;
  /** Swapped sequences brought back to the GPU. */
  readonly swapIns: number;
  /** Prompt and recompute tokens scheduled, summed over steps. */
  readonly prefillTokens: number;
  /** Decode tokens scheduled (one per decode), summed over steps. */
  readonly decodeTokens: number;
  /** Requests added (forked children not counted), finished and aborted. */
  readonly added: number;
  readonly finished: number;
  readonly aborted: number;
  /** The KV cache manager's own prefix-cache counters (kv.prefixCacheStats()). */
  readonly prefixCache: PrefixCacheStats;
  /** The KV pool now (kv.usage()). */
  readonly kvUsage: KvCacheUsage;
}
