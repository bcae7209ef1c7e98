import type { RowLogitsProcessors, TopLogprobsRow } from '@llm/kernels';
import type { GpuKvDtype } from '@llm/quant';
import type { LlamaConfig } from '@llm/formats';
import type { SequenceChunk } from './forward-batch.js';

/** Per-sequence sampling settings; temperature 0 means greedy (argmax). */
export interface SamplingParams {
  readonly temperature: number;
  readonly topP: number;
  /** 0 disables top-k. */
  readonly topK: number;
  /** 0 disables min-p. */
  readonly minP: number;
}

/** One token to sample in a step, from the logits of a chunk's last position. */
export interface SampleRequest {
  /**
   * Index of the chunk whose last token's logits are sampled. Several samples may name the same
   * chunk (n > 1 completions of one prompt); a chunk no sample names gets no LM head at all (a
   * prefill chunk that does not end its prompt).
   */
  readonly chunk: number;
  readonly params: SamplingParams;
  /** A uniform draw in [0, 1) from the request's seeded generator. */
  readonly u: number;
  /** Penalties, bias and bans applied to this row's logits before sampling. */
  readonly processors?: RowLogitsProcessors;
  /**
   * Return the sampled token's log-probability and this many top alternatives (0..20), from the
   * raw logits (before processors and temperature), as vLLM does.
   */
  readonly logprobs?: number;
  /**
   * The tokens this row may sample (grammar-constrained decoding): a bitmask of
   * ceil(vocabSize / 32) u32 words, bit t % 32 of word t / 32 set when token t is allowed. Disallowed
   * tokens get -Infinity after the processors, before temperature, top-k, top-p and min-p. The
   * runner calls it once the step's forward pass is on its way, so the host computes masks while
   * the device runs the forward; rows without one are sampled exactly as they would be without it.
   */
  readonly tokenMask?: () => Uint32Array | Promise<Uint32Array>;
}

/** Work a step performs before its forward pass. */
export interface StepOptions {
  /** Whole KV blocks to copy first (copy-on-write splits, forks). */
  readonly copies?: readonly BlockCopy[];
  /** Blocks swapped out earlier (swapOut) to bring back from the host into the pool first. */
  readonly swapIn?: readonly SwapCopy[];
  /**
   * Decode chunks whose input is a token the previous step() call samples, taken where that call
   * leaves it (on the device) rather than from the chunk's `tokens`: [chunk index, index of the
   * sample in that call]. So step N + 1 can be submitted before step N's tokens are read back.
   * Each chunk named must be one token, not a prefill; with more than maxSeqs samples, the
   * previous call keeps only its last maxSeqs on the device.
   */
  readonly previousSamples?: readonly (readonly [chunk: number, sample: number])[];
}

/** One KV block moving between the pool (`gpuBlock`) and the runner's host memory (`hostBlock`). */
export interface SwapCopy {
  readonly gpuBlock: number;
  readonly hostBlock: number;
}

export interface BlockCopy {
  readonly src: number;
  readonly dst: number;
}

export interface StepResult {
  /** One sampled token per sample request, in request order. */
  readonly tokens: Uint32Array;
  /** Per sample request: its logprobs when it asked for them. */
  readonly logprobs: readonly (TopLogprobsRow | undefined)[];
}

export const GREEDY: SamplingParams = { temperature: 0, topP: 1, topK: 0, minP: 0 };

export interface LogitsOptions {
  /**
   * Packed rows of the step to read (see PackedBatch: decodes first, then prefill chunks in
   * chunk order); default each chunk's last row.
   */
  readonly rows?: readonly number[] | Uint32Array;
}

/** A Llama-family model bound to a backend, with its paged KV pool. */
export interface ModelRunner {
  readonly config: LlamaConfig;
  readonly backend: 'webgpu' | 'cpu';
  readonly adapterName: string;
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** Physical blocks in the KV pool. */
  readonly numBlocks: number;
  /** Most tokens one step may carry (longer prefills are chunked by the caller). */
  readonly maxStepTokens: number;
  /** Most sequences one step may carry. */
  readonly maxSeqs: number;
  /** Element type of the KV pool. */
  readonly kvDtype: GpuKvDtype;
  /**
   * Runs one step: the chunks' forward pass (K/V written to the pool), then the requested samples;
   * only the sampled ids are read back. Chunks may come in any order; prompt chunks and decode
   * tokens each go through their own attention kernel (see SequenceChunk.prefill). Steps run in
   * call order: a step may be called before the previous one's promise settles (see
   * StepOptions.previousSamples), and the runner queues it behind that one's work.
   */
  step(chunks: readonly SequenceChunk[], samples: readonly SampleRequest[], options?: StepOptions): Promise<StepResult>;
  /**
   * Runs one step and reads back logits: by default each chunk's last position, [numSeqs,
   * vocabSize] (tests, logprobs); with `rows`, those packed rows, [rows.length, vocabSize]
   * (perplexity: with one chunk, row i is the chunk's token i).
   */
  logits(chunks: readonly SequenceChunk[], options?: LogitsOptions): Promise<Float32Array>;
  /** Copies whole KV blocks (copy-on-write, swap-in) inside the pool. */
  copyBlocks(copies: readonly BlockCopy[]): Promise<void>;
  /**
   * Copies KV blocks (every layer's K and V) from the pool into host memory, keyed by host block:
   * swap preemption. Resolves once they are on the host; a later step's `swapIn` brings them back.
   */
  swapOut(copies: readonly SwapCopy[]): Promise<void>;
  /** Why the runner's device was lost, or undefined while it works (always undefined on the CPU). */
  deviceLost(): string | undefined;
  dispose(): void;
}
