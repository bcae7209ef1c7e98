import type { GenerationFields } from './request-schemas.js';
import { ServerError } from './server-error.js';
import type { ServedModel, ServingRequest } from './serving-engine.js';

/** What a request asked for beyond its prompt, resolved with vLLM's OpenAI-server defaults. */
export interface GenerationSettings {
  /** Undefined: what the context leaves after the prompt. */
  readonly maxTokens: number | undefined;
  readonly n: number;
  readonly logprobs: number | undefined;
  readonly request: Omit<ServingRequest, 'promptIds' | 'maxTokens'>;
}

/** Resolves a request's sampling fields; token ids are checked against the model's vocabulary. */
export function generationSettings(
  body: GenerationFields,
  model: ServedModel,
  maxTokens: number | null | undefined,
  logprobs: number | undefined,
): GenerationSettings {
  const vocab = model.tokenizer.vocabSize;
  for (const [i, id] of (body.stop_token_ids ?? []).entries()) {
    if (id >= vocab) throw outsideVocabulary(id, vocab, `stop_token_ids[${i}]`);
  }
  for (const key of Object.keys(body.logit_bias ?? {})) {
    if (Number(key) >= vocab) throw outsideVocabulary(Number(key), vocab, `logit_bias.${key}`);
  }
  const n = body.n ?? 1;
  const stop =
    body.stop === undefined || body.stop === null
      ? []
      : typeof body.stop === 'string'
        ? [body.stop]
        : body.stop;
  const request: GenerationSettings['request'] = {
    sampling: {
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      // vLLM writes "off" as -1, the engine as 0.
      topK: Math.max(body.top_k ?? 0, 0),
      minP: body.min_p ?? 0,
      repetitionPenalty: body.repetition_penalty ?? 1,
      presencePenalty: body.presence_penalty ?? 0,
      frequencyPenalty: body.frequency_penalty ?? 0,
      logitBias: body.logit_bias ?? {},
    },
    n,
    ...(stop.length > 0 ? { stop } : {}),
    ...(body.stop_token_ids ? { stopTokenIds: body.stop_token_ids } : {}),
    ...(body.include_stop_str_in_output ? { includeStopStrInOutput: true } : {}),
    // OpenAI's seeds are any 64-bit integer; the engine draws from a 32-bit one.
    ...(body.seed === undefined || body.seed === null
      ? {}
      : { seed: ((body.seed % 2 ** 32) + 2 ** 32) % 2 ** 32 }),
    ...(body.min_tokens ? { minTokens: body.min_tokens } : {}),
    ...(body.ignore_eos ? { ignoreEos: true } : {}),
    ...(logprobs === undefined ? {} : { logprobs }),
  };
  return { maxTokens: maxTokens ?? undefined, n, logprobs, request };
}

function outsideVocabulary(id: number, vocab: number, param: string): ServerError {
  return new ServerError('invalid_argument', `token id ${id} is outside the vocabulary (0..${vocab - 1})`, {
    param,
  });
}

/**
 * The engine request for one prompt: the prompt's token ids checked (not empty, inside the
 * vocabulary) and prompt plus max_tokens checked against the context, in vLLM's words.
 * `promptKind` names the prompt in messages: 'messages' for chat, 'prompt' for completions.
 */
export function servingRequest(
  promptIds: readonly number[],
  settings: GenerationSettings,
  model: ServedModel,
  promptKind: 'messages' | 'prompt',
): ServingRequest {
  if (promptIds.length === 0) {
    throw new ServerError(
      'invalid_argument',
      `the ${promptKind === 'prompt' ? 'prompt is' : 'messages are'} empty: give at least one token`,
      {
        param: promptKind,
      },
    );
  }
  const vocab = model.tokenizer.vocabSize;
  for (const id of promptIds) {
    if (id >= vocab) throw outsideVocabulary(id, vocab, promptKind);
  }
  const where = promptKind === 'messages' ? 'in the messages' : 'in the prompt';
  const max = model.maxModelLen;
  if (promptIds.length >= max) {
    throw new ServerError(
      'invalid_argument',
      `This model's maximum context length is ${max} tokens. However, your request has ${promptIds.length} input tokens ` +
        `(${where}), which leaves no room for a completion. Please reduce the length of the ${promptKind}.`,
      { param: promptKind, apiCode: 'context_length_exceeded' },
    );
  }
  const maxTokens = settings.maxTokens ?? max - promptIds.length;
  if (promptIds.length + maxTokens > max) {
    throw new ServerError(
      'invalid_argument',
      `This model's maximum context length is ${max} tokens. However, you requested ${promptIds.length + maxTokens} tokens ` +
        `(${promptIds.length} ${where}, ${maxTokens} in the completion). Please reduce the length of the ${promptKind} or completion.`,
      { param: 'max_tokens', apiCode: 'context_length_exceeded' },
    );
  }
  return { ...settings.request, promptIds, maxTokens };
}

/** A request's `model` must name the served model, or be absent. */
export function checkModel(requested: string | null | undefined, model: ServedModel): void {
  if (requested === undefined || requested === null || requested === model.name) return;
  throw new ServerError(
    'not_found',
    `The model \`${requested}\` does not exist; this server serves \`${model.name}\`.`,
    {
      param: 'model',
      apiCode: 'model_not_found',
    },
  );
}

/** A completion that ended with 'abort' while its client is still there: the server stopped it. */
export function abortedByServer(): ServerError {
  return new ServerError('unavailable', 'the request was aborted: the server is shutting down', {});
}
