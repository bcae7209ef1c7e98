import * as z from 'zod/mini';
import { InvalidRequestError } from './errors.js';
import { englishMessages } from './zod-messages.js';

// Token ids must fit the KV cache's int32 bookkeeping (@llm/kvcache checks the same range).
const MAX_TOKEN_ID = 2 ** 31 - 1;

/**
 * What is wrong with a prompt, or undefined when nothing is. One loop over the ids rather than a
 * zod schema per element: prompts run to many thousands of tokens, and a schema per element costs
 * a few hundred nanoseconds per token.
 */
function promptProblem(value: unknown): string | undefined {
  if (!Array.isArray(value)) return 'promptIds must be an array of token ids';
  if (value.length === 0) return 'the prompt is empty; pass at least one token id';
  for (let i = 0; i < value.length; i++) {
    const t: unknown = value[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TOKEN_ID) {
      return `token id at index ${i} is ${String(t)}; token ids must be integers in 0..${MAX_TOKEN_ID}`;
    }
  }
  return undefined;
}

export const schedulerRequestSchema = z.strictObject({
  id: z.string().check(z.minLength(1)),
  /** The prompt's token ids; at least one. */
  promptIds: z.custom<readonly number[]>((v) => promptProblem(v) === undefined, {
    error: (issue) => promptProblem(issue.input),
  }),
  /** Most tokens generated; prompt + maxTokens must fit the KV pool above the watermark. */
  maxTokens: z.int().check(z.positive()),
  /** 'priority' policy: lower values are served first. */
  priority: z.optional(z.number().check(z.refine(Number.isFinite, 'priority must be a finite number'))),
  /** Prefix-cache salt: requests with different keys never share cached blocks. */
  cacheKey: z.optional(z.string()),
});

export type SchedulerRequest = z.input<typeof schedulerRequestSchema>;

export function parseSchedulerRequest(request: unknown): z.output<typeof schedulerRequestSchema> {
  const parsed = schedulerRequestSchema.safeParse(request, { error: englishMessages });
  if (!parsed.success) {
    const id =
      typeof request === 'object' && request !== null && typeof (request as { id?: unknown }).id === 'string'
        ? (request as { id: string }).id
        : undefined;
    throw new InvalidRequestError(
      id,
      `invalid request${id === undefined ? '' : ` ${JSON.stringify(id)}`}:\n${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}
