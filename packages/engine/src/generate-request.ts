import * as z from 'zod/mini';
import { EngineRequestError } from './errors.js';
import { grammarSpecSchema } from './grammar.js';
import { englishMessages } from './zod-messages.js';

// Bounds a request may ask for; beyond them a value is a mistake, not a setting.
const MAX_TOP_LOGPROBS = 20;
const MAX_STOP_STRINGS = 16;

const finite = () => z.number().check(z.refine(Number.isFinite, 'must be a finite number'));

/**
 * Sampling settings of a request. Every field is optional: a partial object takes vLLM's defaults
 * for the rest (temperature 1, every filter and penalty off).
 */
export const samplingSchema = z.strictObject({
  /** 0 is greedy (argmax). */
  temperature: z._default(finite().check(z.gte(0), z.lte(100)), 1),
  /** Nucleus mass kept, (0, 1]; 1 is off. */
  topP: z._default(finite().check(z.gt(0), z.lte(1)), 1),
  /** Most probable tokens kept; 0 is off. */
  topK: z._default(z.int().check(z.gte(0)), 0),
  /** Tokens below minP times the top probability are dropped, [0, 1]; 0 is off. */
  minP: z._default(finite().check(z.gte(0), z.lte(1)), 0),
  /** > 1 discourages tokens of the prompt and output (divides positive logits); 1 is off. */
  repetitionPenalty: z._default(finite().check(z.gt(0), z.lte(100)), 1),
  /** Subtracted once from the logit of every token already generated, [-2, 2] as in OpenAI's API. */
  presencePenalty: z._default(finite().check(z.gte(-2), z.lte(2)), 0),
  /** Subtracted per occurrence from the logit of every token already generated, [-2, 2]. */
  frequencyPenalty: z._default(finite().check(z.gte(-2), z.lte(2)), 0),
  /** Added to a token's logit, [-100, 100] as in OpenAI's API, or -Infinity to ban it. Keys are token ids. */
  logitBias: z._default(
    z.record(
      z.string().check(z.regex(/^\d+$/, 'logitBias keys are token ids')),
      z.custom<number>(
        (v) => typeof v === 'number' && ((v >= -100 && v <= 100) || v === -Infinity),
        'a bias is a number in [-100, 100], or -Infinity to ban the token',
      ),
    ),
    {},
  ),
});

export type SamplingOptions = z.input<typeof samplingSchema>;
export type ResolvedSampling = z.output<typeof samplingSchema>;

export const generateRequestSchema = z
  .strictObject({
    /** Prompt token ids, used verbatim (BOS included if wanted). Give this or `prompt`. */
    promptIds: z.optional(z.array(z.int().check(z.gte(0)))),
    /** Prompt text, encoded with the tokenizer's special tokens (BOS where the model wants one). */
    prompt: z.optional(z.string()),
    /** Most tokens to generate; default: up to the end of the model's context. */
    maxTokens: z.optional(z.int().check(z.positive())),
    sampling: z.prefault(samplingSchema, {}),
    /** Seed of the request's sampling draws: the same seed gives the same tokens, batched or not. */
    seed: z.optional(z.int().check(z.gte(0), z.lte(2 ** 32 - 1))),
    /** Text that ends a completion when generated; it is not part of the output. */
    stop: z._default(z.union([z.string().check(z.minLength(1)), z.array(z.string().check(z.minLength(1))).check(z.maxLength(MAX_STOP_STRINGS))]), []),
    /** Token ids that end a completion (kept in tokenIds, like an end-of-generation token). */
    stopTokenIds: z._default(z.array(z.int().check(z.gte(0))), []),
    /** Keep a matched stop string at the end of the text. */
    includeStopStrInOutput: z._default(z.boolean(), false),
    /** End-of-generation and stop tokens are banned until this many tokens are out. */
    minTokens: z._default(z.int().check(z.gte(0)), 0),
    /** Keep generating past end-of-generation tokens (benchmarks). */
    ignoreEos: z._default(z.boolean(), false),
    /** Return the sampled token's log-probability and this many top alternatives (0..20). */
    logprobs: z.optional(z.int().check(z.gte(0), z.lte(MAX_TOP_LOGPROBS))),
    /** Completions of the prompt; they share its KV blocks (copy-on-write). */
    n: z._default(z.int().check(z.positive()), 1),
    /** Scheduling priority under the 'priority' policy: lower runs first. */
    priority: z._default(z.int(), 0),
    /**
     * Constrain the output to a grammar (JSON, a JSON Schema, EBNF, a regex): each step the sampler
     * gets a mask of the tokens the grammar allows next. The end-of-generation token is allowed once
     * the grammar is complete, so a reply that is not cut by maxTokens is complete.
     */
    grammar: z.optional(grammarSpecSchema),
    /** Salt for the prefix cache: only requests with the same key share cached blocks. */
    cacheKey: z.optional(z.string()),
  })
  .check(
    z.refine((r) => (r.promptIds === undefined) !== (r.prompt === undefined), {
      message: 'give exactly one of prompt (text) and promptIds (token ids)',
      path: ['prompt'],
    }),
  );

type RequestInput = z.input<typeof generateRequestSchema>;

/** A request as callers write it (arrays may be readonly). */
export type GenerateRequest = Omit<RequestInput, 'promptIds' | 'stop' | 'stopTokenIds'> & {
  readonly promptIds?: readonly number[] | undefined;
  readonly stop?: string | readonly string[] | undefined;
  readonly stopTokenIds?: readonly number[] | undefined;
};
export type ParsedGenerateRequest = z.output<typeof generateRequestSchema>;

/** Validates a request from any caller (plain JavaScript too): defaults filled, or a typed error. */
export function parseGenerateRequest(request: unknown): ParsedGenerateRequest {
  const parsed = generateRequestSchema.safeParse(request, { error: englishMessages });
  if (!parsed.success) throw new EngineRequestError(`invalid request:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
