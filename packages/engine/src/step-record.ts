import type { FinishReason } from './completion.js';

/** What one engine step did: the observable record the server's metrics and live views read. */
export interface StepRecord {
  readonly step: number;
  /** performance.now() when the step was scheduled. */
  readonly startMs: number;
  /**
   * From scheduling, or from the previous step's tokens coming back when this step was built
   * before (overlapped), to its own tokens back on the host: the steps' wall times add up to the
   * time the loop ran.
   */
  readonly wallMs: number;
  /**
   * Scheduled, packed and submitted while the previous step ran on the device (its decodes took
   * their input tokens from that step's samples there): its scheduleMs and submitMs overlapped
   * the previous step's device time.
   */
  readonly overlapped: boolean;
  /** Host time the scheduler and the engine's packing took, before the runner was called. */
  readonly scheduleMs: number;
  /** Host time the runner took to pack, record and submit the step (its call up to the device's work). */
  readonly submitMs: number;
  /**
   * Host time computing the grammar masks of constrained sequences (0 without any). The runner
   * asks for them once the forward pass is submitted, so this overlaps the device's work.
   */
  readonly maskMs: number;
  /** Prompt tokens run per sequence (chunked prefill), from position startPos (after any cached prefix). */
  readonly prefill: readonly { readonly seqId: string; readonly tokens: number; readonly startPos: number }[];
  /** Sequences that decoded one token. */
  readonly decode: readonly string[];
  /** Block copies (copy-on-write of a shared last block) the step made before its forward pass. */
  readonly copies: readonly { readonly src: number; readonly dst: number }[];
  readonly numPrefillTokens: number;
  readonly numDecodeTokens: number;
  readonly kv: {
    readonly totalBlocks: number;
    readonly usedBlocks: number;
    /** Blocks holding a cached prefix nobody uses: free to take, reused on a prefix hit. */
    readonly cachedBlocks: number;
    readonly freeBlocks: number;
    /** usedBlocks / totalBlocks. */
    readonly usage: number;
  };
  /** Sequences that got a token this step (decodes, and prompts whose last chunk ran). */
  readonly sampled: readonly string[];
  readonly preempted: readonly string[];
  readonly finished: readonly { readonly seqId: string; readonly reason: FinishReason }[];
  readonly numRunning: number;
  readonly numWaiting: number;
}

/** Running totals since the engine started. */
export interface EngineTotals {
  steps: number;
  promptTokens: number;
  /** Prompt tokens whose K/V came from the prefix cache. */
  cachedPromptTokens: number;
  generationTokens: number;
  preemptions: number;
  /** Prefix cache lookups and hits, in tokens (vLLM's prefix_cache_queries / _hits). */
  prefixCacheQueries: number;
  prefixCacheHits: number;
  requestsFinished: Record<FinishReason, number>;
  numRunning: number;
  numWaiting: number;
  /**
   * Fraction of the KV pool held by sequences, 0..1; blocks of a cached prefix nobody uses count as
   * free, since a new request may take them (vLLM's kv_cache_usage_perc).
   */
  kvCacheUsage: number;
}
