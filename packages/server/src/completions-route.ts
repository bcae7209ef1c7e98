import { Generation } from './generation.js';
import { completionLogprobs, logprobsTextLength, type TokenPieces } from './logprobs.js';
import { completionRequestSchema, parseRequest, type CompletionRequest } from './request-schemas.js';
import { nowSeconds, responseId, usageOf } from './response-ids.js';
import { ServerError } from './server-error.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServedModel } from './serving-engine.js';
import { abortedByServer, checkModel, generationSettings, servingRequest } from './serving-request.js';
import { sseResponse, type RouteContext } from './sse.js';
import { streamEnd, type ChunkHead } from './stream-end.js';
import { prepareGrammar, responseFormatGrammar } from './structured-output.js';

interface Prompt {
  readonly ids: readonly number[];
  /** What `echo` puts before the completion. */
  readonly text: () => string;
}

/** The prompts of a completions request, each as token ids. */
function promptsOf(prompt: CompletionRequest['prompt'], model: ServedModel): Prompt[] {
  const { tokenizer } = model;
  const fromText = (text: string): Prompt => ({
    ids: tokenizer.encode(text, { addSpecial: true }),
    text: () => text,
  });
  const fromIds = (ids: readonly number[]): Prompt => ({ ids, text: () => tokenizer.decode(ids) });
  if (typeof prompt === 'string') return [fromText(prompt)];
  const first = prompt[0];
  if (typeof first === 'string') return (prompt as string[]).map(fromText);
  if (typeof first === 'number') return [fromIds(prompt as number[])];
  return (prompt as number[][]).map(fromIds);
}

/** POST /v1/completions. */
export async function completions(
  raw: unknown,
  model: ServedModel,
  metrics: ServerMetrics,
  pieces: TokenPieces,
  route: RouteContext,
): Promise<Response> {
  const body = parseRequest(completionRequestSchema, raw);
  checkModel(body.model, model);
  const logprobs = body.logprobs ?? undefined;
  if (body.echo && logprobs !== undefined) {
    // The engine returns no log-probabilities of prompt tokens, which echo with logprobs needs.
    throw new ServerError(
      'unsupported',
      'echo together with logprobs is not supported: the prompt tokens have no logprobs here',
      {
        param: 'echo',
      },
    );
  }
  const settings = generationSettings(body, model, body.max_tokens, logprobs);
  const prompts = promptsOf(body.prompt, model);
  const grammar = responseFormatGrammar(body.response_format);
  if (grammar) await prepareGrammar(model.engine, grammar, 'response_format');
  const requests = prompts.map((p) => ({ ...servingRequest(p.ids, settings, model, 'prompt'), ...(grammar ? { grammar } : {}) }));
  const generation = Generation.start(model.engine, requests, route.signal, metrics);
  const untrack = route.track(() => generation.abort());
  const shape = {
    id: responseId('cmpl'),
    created: nowSeconds(),
    model: model.name,
    n: settings.n,
    echo: body.echo ?? false,
  };
  if (!body.stream) {
    return complete(generation, prompts, shape, logprobs, pieces, route).finally(untrack);
  }
  const includeUsage = body.stream_options?.include_usage ?? false;
  return sseResponse(
    stream(generation, prompts, shape, logprobs, includeUsage, pieces),
    () => generation.abort(),
    untrack,
  );
}

interface Shape {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly n: number;
  readonly echo: boolean;
}

async function complete(
  generation: Generation,
  prompts: readonly Prompt[],
  shape: Shape,
  logprobs: number | undefined,
  pieces: TokenPieces,
  route: RouteContext,
): Promise<Response> {
  await generation.drain();
  const results = await generation.results();
  const choices = results.flatMap((result, p) =>
    result.completions.map((c) => {
      if (c.finishReason === 'abort' && !route.clientGone()) throw abortedByServer();
      const echoed = shape.echo ? prompts[p]!.text() : '';
      return {
        index: p * shape.n + c.index,
        text: echoed + c.text,
        logprobs: logprobs === undefined ? null : completionLogprobs(c.logprobs ?? [], pieces, echoed.length),
        finish_reason: c.finishReason,
        stop_reason: c.stopReason ?? null,
      };
    }),
  );
  choices.sort((a, b) => a.index - b.index);
  return Response.json({
    id: shape.id,
    object: 'text_completion',
    created: shape.created,
    model: shape.model,
    choices,
    usage: usageOf(results),
  });
}

async function* stream(
  generation: Generation,
  prompts: readonly Prompt[],
  shape: Shape,
  logprobs: number | undefined,
  includeUsage: boolean,
  pieces: TokenPieces,
): AsyncGenerator<object | string> {
  const head: ChunkHead = { id: shape.id, object: 'text_completion', created: shape.created, model: shape.model };
  const chunk = (
    index: number,
    text: string,
    lp: object | null,
    finish: string | null,
    stopReason: string | number | null,
  ) => ({
    ...head,
    choices: [{ index, text, logprobs: lp, finish_reason: finish, stop_reason: stopReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  // Where each choice's next token starts in its text, for logprobs' text_offset.
  const offsets = new Map<number, number>();
  try {
    if (shape.echo) {
      for (const [p, prompt] of prompts.entries()) {
        const text = prompt.text();
        for (let i = 0; i < shape.n; i++) {
          offsets.set(p * shape.n + i, text.length);
          yield chunk(p * shape.n + i, text, null, null, null);
        }
      }
    }
    for await (const { prompt, delta } of generation.deltas()) {
      const index = prompt * shape.n + delta.index;
      if (delta.finishReason === 'abort') throw abortedByServer();
      const rows = logprobs === undefined ? [] : (delta.logprobs ?? []);
      if (delta.text !== '' || rows.length > 0) {
        const offset = offsets.get(index) ?? 0;
        offsets.set(index, offset + logprobsTextLength(rows, pieces));
        yield chunk(
          index,
          delta.text,
          logprobs === undefined ? null : completionLogprobs(rows, pieces, offset),
          null,
          null,
        );
      }
      if (delta.finishReason) yield chunk(index, '', null, delta.finishReason, delta.stopReason ?? null);
    }
    yield* streamEnd(generation, head, includeUsage);
  } catch (error) {
    yield ServerError.from(error).body();
  }
}
