import * as z from 'zod/mini';
import { ServerError } from './server-error.js';
import { englishMessages } from './zod-messages.js';

// OpenAI's bound on top_logprobs (and the completions API's logprobs); the engine's too.
const MAX_TOP_LOGPROBS = 20;
// The engine's bound on stop strings per request.
const MAX_STOP_STRINGS = 16;
// More completions than this in one request is a typo, not a workload.
const MAX_N = 128;

const tokenId = () => z.int().check(z.gte(0));

/**
 * Fields both generation endpoints take. Objects are not strict: unknown fields are ignored, as
 * OpenAI's API does; `null` means absent, as OpenAI's SDKs may send it.
 */
const generationFields = {
  model: z.nullish(z.string()),
  max_tokens: z.nullish(z.int().check(z.positive())),
  temperature: z.nullish(z.number().check(z.gte(0), z.lte(100))),
  top_p: z.nullish(z.number().check(z.gt(0), z.lte(1))),
  /** -1 (vLLM's "off") or 0 disable it. */
  top_k: z.nullish(z.int().check(z.gte(-1))),
  min_p: z.nullish(z.number().check(z.gte(0), z.lte(1))),
  n: z.nullish(z.int().check(z.positive(), z.lte(MAX_N))),
  stop: z.nullish(
    z.union([
      z.string().check(z.minLength(1)),
      z.array(z.string().check(z.minLength(1))).check(z.maxLength(MAX_STOP_STRINGS)),
    ]),
  ),
  stop_token_ids: z.nullish(z.array(tokenId())),
  include_stop_str_in_output: z.nullish(z.boolean()),
  seed: z.nullish(z.int()),
  presence_penalty: z.nullish(z.number().check(z.gte(-2), z.lte(2))),
  frequency_penalty: z.nullish(z.number().check(z.gte(-2), z.lte(2))),
  repetition_penalty: z.nullish(z.number().check(z.gt(0), z.lte(100))),
  logit_bias: z.nullish(
    z.record(
      z.string().check(z.regex(/^\d+$/, 'logit_bias keys are token ids')),
      z.number().check(z.gte(-100), z.lte(100)),
    ),
  ),
  ignore_eos: z.nullish(z.boolean()),
  min_tokens: z.nullish(z.int().check(z.gte(0))),
  stream: z.nullish(z.boolean()),
  stream_options: z.nullish(z.object({ include_usage: z.nullish(z.boolean()) })),
  user: z.nullish(z.string()),
  /** `text` (default), `json_object`, or `json_schema` with the schema the reply must follow. */
  response_format: z.nullish(
    z.discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string().check(z.regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a name is 1 to 64 letters, digits, _ or -')),
          description: z.nullish(z.string()),
          schema: z.nullish(z.record(z.string(), z.unknown())),
          strict: z.nullish(z.boolean()),
        }),
      }),
    ]),
  ),
};

const functionName = () => z.string().check(z.regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a function name is 1 to 64 letters, digits, _ or -'));

export const toolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: functionName(),
    description: z.nullish(z.string()),
    /** A JSON Schema of the arguments object; absent: no arguments. */
    parameters: z.nullish(z.record(z.string(), z.unknown())),
    strict: z.nullish(z.boolean()),
  }),
});

export const completionRequestSchema = z.object({
  ...generationFields,
  /** Text, texts, token ids or lists of token ids: each prompt gets its own n choices. */
  prompt: z.union([
    z.string(),
    z.array(z.string()).check(z.minLength(1)),
    z.array(tokenId()).check(z.minLength(1)),
    z.array(z.array(tokenId())).check(z.minLength(1)),
  ]),
  logprobs: z.nullish(z.int().check(z.gte(0), z.lte(MAX_TOP_LOGPROBS))),
  echo: z.nullish(z.boolean()),
});

const contentPart = z.object({ type: z.literal('text'), text: z.string() });

export const chatMessageSchema = z.looseObject({
  role: z.string(),
  content: z.nullish(z.union([z.string(), z.array(contentPart)])),
  name: z.optional(z.string()),
});

export const chatRequestSchema = z.object({
  ...generationFields,
  messages: z.array(chatMessageSchema).check(z.minLength(1)),
  /** Chat's name for max_tokens; it wins when both are given. */
  max_completion_tokens: z.nullish(z.int().check(z.positive())),
  logprobs: z.nullish(z.boolean()),
  top_logprobs: z.nullish(z.int().check(z.gte(0), z.lte(MAX_TOP_LOGPROBS))),
  tools: z.nullish(z.array(toolSchema)),
  tool_choice: z.nullish(
    z.union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
    ]),
  ),
  parallel_tool_calls: z.nullish(z.boolean()),
});

export const tokenizeRequestSchema = z.union([
  z.object({
    model: z.nullish(z.string()),
    prompt: z.string(),
    add_special_tokens: z.nullish(z.boolean()),
  }),
  z.object({
    model: z.nullish(z.string()),
    messages: z.array(chatMessageSchema),
    add_generation_prompt: z.nullish(z.boolean()),
  }),
]);

export const detokenizeRequestSchema = z.object({
  model: z.nullish(z.string()),
  tokens: z.array(tokenId()),
});

export type CompletionRequest = z.output<typeof completionRequestSchema>;
export type ChatRequest = z.output<typeof chatRequestSchema>;
export type ChatTool = z.output<typeof toolSchema>;
export type TokenizeRequest = z.output<typeof tokenizeRequestSchema>;
export type DetokenizeRequest = z.output<typeof detokenizeRequestSchema>;
/** The fields both generation endpoints share, as one object. */
export const generationFieldsSchema = z.object(generationFields);
export type GenerationFields = z.output<typeof generationFieldsSchema>;

/** A field path as OpenAI's errors write it: `messages[0].content`. */
export function paramPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path)
    out += typeof key === 'number' ? `[${key}]` : `${out === '' ? '' : '.'}${String(key)}`;
  return out;
}

/** Parses a request body, or throws a 400 ServerError naming the first field at fault. */
export function parseRequest<S extends z.ZodMiniType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body, { error: englishMessages });
  if (parsed.success) return parsed.data;
  const issue = firstIssue(parsed.error.issues);
  const param = paramPath(issue.path);
  const where = param === '' ? 'the request body' : `'${param}'`;
  throw new ServerError('invalid_argument', `Invalid value for ${where}: ${issue.message}`, {
    ...(param === '' ? {} : { param }),
    apiCode: issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value',
  });
}

type Issue = z.core.$ZodIssue;

/** The most specific issue: inside a union, the branch that got furthest names the field best. */
function firstIssue(issues: readonly Issue[]): Issue {
  const issue = issues[0]!;
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  const branches = issue.errors.map((errors) => firstIssue(errors));
  const deepest = branches.reduce((a, b) => (b.path.length > a.path.length ? b : a));
  // A wrong type at the union itself says more than any branch's complaint.
  if (deepest.path.length === 0) return issue;
  return { ...deepest, path: [...issue.path, ...deepest.path] };
}
