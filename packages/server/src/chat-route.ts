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
import { prepareGrammar, responseFormatGrammar, toolUse, type ToolUse } from './structured-output.js';
import { ToolCallParser } from './tool-calls.js';

/** POST /v1/chat/completions. */
export async function chatCompletions(
  raw: unknown,
  model: ServedModel,
  metrics: ServerMetrics,
  pieces: TokenPieces,
  route: RouteContext,
): Promise<Response> {
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
  const tools = toolUse(body);
  // Calls the request demands win over a response format; in `auto`, a response format (if any)
  // shapes a reply without calls.
  const forced = tools.parse && body.tool_choice !== undefined && body.tool_choice !== null && body.tool_choice !== 'auto';
  const formatGrammar = responseFormatGrammar(body.response_format);
  const grammar = forced || !formatGrammar ? tools.grammar : formatGrammar;
  if (grammar) {
    const fromTools = grammar === tools.grammar;
    await prepareGrammar(model.engine, grammar, fromTools ? 'tools' : 'response_format', fromTools ? (tools.tools ?? []) : []);
  }
  const promptIds = renderPrompt(model, body.messages as ChatMessage[], true, tools.tools);
  const request = { ...servingRequest(promptIds, settings, model, 'messages'), ...(grammar ? { grammar } : {}) };
  const generation = Generation.start(model.engine, [request], route.signal, metrics);
  const untrack = route.track(() => generation.abort());
  const shape = { id: responseId('chatcmpl'), created: nowSeconds(), model: model.name, n: settings.n };
  if (!body.stream) return complete(generation, shape, topLogprobs, pieces, route, tools).finally(untrack);
  const includeUsage = body.stream_options?.include_usage ?? false;
  return sseResponse(
    stream(generation, shape, topLogprobs, includeUsage, pieces, tools),
    () => generation.abort(),
    untrack,
  );
}

/** The conversation's prompt ids; a template that cannot render it is the request's fault. */
export function renderPrompt(
  model: ServedModel,
  messages: readonly ChatMessage[],
  addGenerationPrompt = true,
  tools?: readonly unknown[],
): number[] {
  try {
    return model.chat.renderToIds(messages, { addGenerationPrompt, ...(tools ? { tools } : {}) });
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
  tools: ToolUse,
): Promise<Response> {
  await generation.drain();
  const [result] = await generation.results();
  const choices = result!.completions.map((c) => {
    if (c.finishReason === 'abort' && !route.clientGone()) throw abortedByServer();
    let message: object = { role: 'assistant', content: c.text };
    let finish: string = c.finishReason;
    if (tools.parse) {
      const parser = new ToolCallParser(() => responseId('call'));
      const content = parser.push(c.text).content + parser.finish().content;
      if (parser.calls.length > 0) {
        message = { role: 'assistant', content: content.trim() === '' ? null : content, tool_calls: parser.calls };
        if (finish === 'stop') finish = 'tool_calls';
      }
    }
    return {
      index: c.index,
      message,
      logprobs:
        topLogprobs === undefined ? null : { content: chatLogprobs(c.logprobs ?? [], pieces, topLogprobs) },
      finish_reason: finish,
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
  tools: ToolUse,
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
  // Per choice: its tool-call parser, and whitespace held until it turns out not to sit between calls.
  const parsers = Array.from({ length: shape.n }, () => (tools.parse ? new ToolCallParser(() => responseId('call')) : undefined));
  const heldSpace = new Array<string>(shape.n).fill('');
  try {
    for (let i = 0; i < shape.n; i++) yield chunk(i, { role: 'assistant', content: '' }, null, null, null);
    for await (const { delta } of generation.deltas()) {
      if (delta.finishReason === 'abort') throw abortedByServer();
      const rows = topLogprobs === undefined ? [] : (delta.logprobs ?? []);
      const lp = topLogprobs === undefined ? null : { content: chatLogprobs(rows, pieces, topLogprobs) };
      const parser = parsers[delta.index];
      if (!parser) {
        if (delta.text !== '' || rows.length > 0) yield chunk(delta.index, { content: delta.text }, lp, null, null);
      } else {
        const piece = parser.push(delta.text);
        if (delta.finishReason) {
          const rest = parser.finish();
          piece.content += rest.content;
          piece.toolCalls.push(...rest.toolCalls);
        }
        let content = heldSpace[delta.index]! + piece.content;
        heldSpace[delta.index] = '';
        if (content.trim() === '') {
          heldSpace[delta.index] = content;
          content = '';
        }
        if (content !== '' || rows.length > 0) yield chunk(delta.index, { content }, lp, null, null);
        for (const call of piece.toolCalls) yield chunk(delta.index, { tool_calls: [call] }, null, null, null);
      }
      if (delta.finishReason) {
        const calls = parser !== undefined && parser.calls.length > 0;
        const finish = calls && delta.finishReason === 'stop' ? 'tool_calls' : delta.finishReason;
        yield chunk(delta.index, {}, null, finish, delta.stopReason ?? null);
      }
    }
    yield* streamEnd(generation, head, includeUsage);
  } catch (error) {
    yield ServerError.from(error).body();
  }
}
