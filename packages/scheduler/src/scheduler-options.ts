import * as z from 'zod/mini';
import { SchedulerOptionsError } from './errors.js';
import { englishMessages } from './zod-messages.js';

export const schedulerOptionsSchema = z
  .strictObject({
    /** Most sequences in one step (and most sequences admitted to the running set). */
    maxNumSeqs: z.int().check(z.positive()),
    /** Most tokens in one step: one per decode plus every prefill chunk's tokens. */
    maxNumBatchedTokens: z.int().check(z.positive()),
    /** 'fcfs': arrival order. 'priority': lower `priority` first (vLLM), then arrival. */
    policy: z._default(z.enum(['fcfs', 'priority']), 'fcfs'),
    /** 'recompute' frees a preempted sequence's blocks; 'swap' copies them to the host pool. */
    preemptionMode: z._default(z.enum(['recompute', 'swap']), 'recompute'),
    /** Most prompt tokens one sequence runs in one step; unset: only the token budget limits. */
    maxPrefillChunkTokens: z.optional(z.int().check(z.positive())),
    /**
     * Fraction of the GPU blocks admission leaves free, so running sequences can grow without
     * preempting at once. 0.01 is vLLM's default.
     */
    watermark: z._default(z.number().check(z.gte(0), z.lt(1)), 0.01),
  })
  .check(
    z.refine((o) => o.maxNumBatchedTokens >= o.maxNumSeqs, {
      message:
        'maxNumBatchedTokens must be at least maxNumSeqs, so every running decode fits in one ' +
        'step; raise maxNumBatchedTokens or lower maxNumSeqs',
      path: ['maxNumBatchedTokens'],
    }),
  );

export type SchedulerOptions = z.input<typeof schedulerOptionsSchema>;
export type ResolvedSchedulerOptions = z.output<typeof schedulerOptionsSchema>;

export function parseSchedulerOptions(options: unknown): ResolvedSchedulerOptions {
  const parsed = schedulerOptionsSchema.safeParse(options, { error: englishMessages });
  if (!parsed.success) {
    throw new SchedulerOptionsError(`invalid scheduler options:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
