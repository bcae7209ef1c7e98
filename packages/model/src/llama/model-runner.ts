import type { GpuDtype } from '@llm/quant';
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

export interface SamplingRequest {
  readonly params: SamplingParams;
  /** A uniform draw in [0, 1) from the request's seeded generator. */
  readonly u: number;
}

export const GREEDY: SamplingParams = { temperature: 0, topP: 1, topK: 0, minP: 0 };

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
  readonly kvDtype: GpuDtype;
  /** Runs one step and returns one sampled token per sequence; only these ids are read back. */
  step(chunks: readonly SequenceChunk[], sampling: readonly SamplingRequest[]): Promise<Uint32Array>;
  /** Runs one step and reads back the last-position logits, [numSeqs, vocabSize] (tests, logprobs). */
  logits(chunks: readonly SequenceChunk[]): Promise<Float32Array>;
  /** Copies whole KV blocks (copy-on-write, swap-in) inside the pool. */
  copyBlocks(copies: readonly { src: number; dst: number }[]): Promise<void>;
  dispose(): void;
}
