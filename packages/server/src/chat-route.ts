import { Generation } from './generation.js';
import { chatLogprobs, type TokenPieces } from './logprobs.js';
import { chatRequestSchema, parseRequest } from './request-schemas.js';
import { nowSeconds, responseId, usageOf } from './response-ids.js';
import { ServerError } from './server-error.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ChatMessage, ServedModel } from './serving-engine.js';
import { abortedByServer, checkModel, generationSettings, servingRequest } from './serving-request.js';
import { sseResponse, type RouteContext } from './sse.js';
import { streamEnd, type ChunkHead } from './stream-end.js';

/** POST /v1/chat/completions. */
export function chatCompletions(
  raw: unknown,
  model: ServedModel,
  metrics: ServerMetrics,
  pieces: TokenPieces,
  route: RouteContext,
): Promise<Response> | Response {
  const body = parseRequest(chatRequestSchema, raw);
  checkModel(body.model, model);
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && !body.logprobs) {
    throw new ServerError('invalid_argument', 'top_logprobs needs logprobs set to true', {
      param: 'top_logprobs',
    });
  }
  const topLogprobs = body.logprobs ? (body.top_logprobs ?? 0) : undefined;
  const settings = generationSettings(
    body,
    model,
    body.max_completion_tokens ?? body.max_tokens,
    topLogprobs,
  );
  const promptIds = renderPrompt(model, body.messages as ChatMessage[]);
  const request = servingRequest(promptIds, settings, model, 'messages');
  const generation = Generation.start(model.engine, [request], route.signal, metrics);
  const untrack = route.track(() => generation.abort());
  const shape = { id: responseId('chatcmpl'), created: nowSeconds(), model: model.name, n: settings.n };
  if (!body.stream) return complete(generation, shape, topLogprobs, pieces, route).finally(untrack);
  const includeUsage = body.stream_options?.include_usage ?? false;
  return sseResponse(
    stream(generation, shape, topLogprobs, includeUsage, pieces),
    () => generation.abort(),
    untrack,
  );
}

/** The conversation's prompt ids; a template that cannot render it is the request's fault. */
export function renderPrompt(
  model: ServedModel,
  messages: readonly ChatMessage[],
  addGenerationPrompt = true,
): number[] {
  try {
    return model.chat.renderToIds(messages, { addGenerationPrompt });
  } catch (error) {
    const e = ServerError.from(error);
    // A template error (a role it does not know, say) is about the messages, never a 500.
    throw e.code === 'internal'
      ? new ServerError('invalid_argument', `the messages cannot be rendered: ${(error as Error).message}`, {
          param: 'messages',
          cause: error,
        })
      : e;
  }
}

interface Shape {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly n: number;
}

async function complete(
  generation: Generation,
  shape: Shape,
  topLogprobs: number | undefined,
  pieces: TokenPieces,
  route: RouteContext,
): Promise<Response> {
  await generation.drain();
  const [result] = await generation.results();
  const choices = result!.completions.map((c) => {
    if (c.finishReason === 'abort' && !route.clientGone()) throw abortedByServer();
    return {
      index: c.index,
      message: { role: 'assistant', content: c.text },
      logprobs:
        topLogprobs === undefined ? null : { content: chatLogprobs(c.logprobs ?? [], pieces, topLogprobs) },
      finish_reason: c.finishReason,
      stop_reason: c.stopReason ?? null,
    };
  });
  return Response.json({
    id: shape.id,
    object: 'chat.completion',
    created: shape.created,
    model: shape.model,
    choices,
    usage: usageOf([result!]),
  });
}

async function* stream(
  generation: Generation,
  shape: Shape,
  topLogprobs: number | undefined,
  includeUsage: boolean,
  pieces: TokenPieces,
): AsyncGenerator<object | string> {
  const head: ChunkHead = { id: shape.id, object: 'chat.completion.chunk', created: shape.created, model: shape.model };
  const chunk = (
    index: number,
    delta: object,
    lp: object | null,
    finish: string | null,
    stopReason: string | number | null,
  ) => ({
    ...head,
    choices: [{ index, delta, logprobs: lp, finish_reason: finish, stop_reason: stopReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  try {
    for (let i = 0; i < shape.n; i++) yield chunk(i, { role: 'assistant', content: '' }, null, null, null);
    for await (const { delta } of generation.deltas()) {
      if (delta.finishReason === 'abort') throw abortedByServer();
      const rows = topLogprobs === undefined ? [] : (delta.logprobs ?? []);
      if (delta.text !== '' || rows.length > 0) {
        const lp = topLogprobs === undefined ? null : { content: chatLogprobs(rows, pieces, topLogprobs) };
        yield chunk(delta.index, { content: delta.text }, lp, null, null);
      }
      if (delta.finishReason)
        yield chunk(delta.index, {}, null, delta.finishReason, delta.stopReason ?? null);
    }
    yield* streamEnd(generation, head, includeUsage);
  } catch (error) {
    yield ServerError.from(error).body();
  }
}
