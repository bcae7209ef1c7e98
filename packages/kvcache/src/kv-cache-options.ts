import * as z from 'zod/mini';
import { KvCacheOptionsError } from './errors.js';
import { englishMessages } from './zod-messages.js';

// Slots are int32 (what WGSL indexes with), so numBlocks * blockSize must stay below 2^31.
const MAX_SLOTS = 2 ** 31 - 1;

export const kvCacheOptionsSchema = z
  .strictObject({
    /** Physical blocks in the GPU pool (see planKvCacheMemory). */
    numBlocks: z.int().check(z.positive()),
    /** Tokens per block. 16 is vLLM's default: waste is confined to each sequence's last block. */
    blockSize: z._default(z.int().check(z.positive(), z.maximum(4096)), 16),
    /** Blocks in the host (CPU) pool that swapped-out sequences move to; 0 disables swapping. */
    numHostBlocks: z._default(z.int().check(z.nonnegative()), 0),
    /** Share full blocks between sequences with the same prefix (chained content hashes). */
    enablePrefixCaching: z._default(z.boolean(), true),
  })
  .check(
    z.refine((o) => o.numBlocks * o.blockSize <= MAX_SLOTS, {
      message: `numBlocks * blockSize must be at most ${MAX_SLOTS} (slots are int32); use fewer or smaller blocks`,
      path: ['numBlocks'],
    }),
  );

export type KvCacheOptions = z.input<typeof kvCacheOptionsSchema>;
export type ResolvedKvCacheOptions = z.output<typeof kvCacheOptionsSchema>;

export function parseKvCacheOptions(options: unknown): ResolvedKvCacheOptions {
  const parsed = kvCacheOptionsSchema.safeParse(options, { error: englishMessages });
  if (!parsed.success) {
    throw new KvCacheOptionsError(`invalid KV cache options:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
