import type { KvDtype } from '@llm/kernels';
import { z } from 'zod';
import type { LlamaConfig } from '@llm/formats';

export class KvPoolError extends Error {
  override readonly name = 'KvPoolError';
}

export const runnerOptionsSchema = z.object({
  // 16 tokens per block: vLLM's default; waste is confined to each sequence's last block.
  blockSize: z.number().int().positive().max(1024).optional(),
  /** Physical KV blocks; default: room for two sequences of the full context. */
  numBlocks: z.number().int().positive().optional(),
  /** Largest step in tokens; longer prompts are prefilled in chunks of this size. */
  maxStepTokens: z.number().int().positive().optional(),
  /** Most sequences in one step. */
  maxSeqs: z.number().int().positive().optional(),
  /**
   * Element type of the KV pool: 'f32' (default, exact) or 'f16' (half the memory, what
   * llama.cpp and vLLM keep; attention still computes in f32).
   */
  kvDtype: z.enum(['f32', 'f16']).optional(),
});

export type RunnerOptions = z.input<typeof runnerOptionsSchema>;

export interface ResolvedRunnerOptions {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly maxStepTokens: number;
  readonly maxSeqs: number;
  readonly kvDtype: KvDtype;
}

export function resolveRunnerOptions(config: LlamaConfig, options: RunnerOptions): ResolvedRunnerOptions {
  const o = runnerOptionsSchema.parse(options);
  const blockSize = o.blockSize ?? 16;
  return {
    blockSize,
    numBlocks: o.numBlocks ?? 2 * Math.ceil(config.contextLength / blockSize),
    maxStepTokens: o.maxStepTokens ?? 512,
    maxSeqs: o.maxSeqs ?? 16,
    kvDtype: o.kvDtype ?? 'f32',
  };
}
