// Chat against any OpenAI-compatible server (`llm serve`, vLLM, llama.cpp's server): a streamed
// /v1/chat/completions read as server-sent events.
import type { ChatTurn, SamplingSettings } from './protocol.js';
import { responseFormatBody } from './response-format.js';

export interface RemoteTarget {
  /** e.g. http://127.0.0.1:8000 (with or without /v1). */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** '' asks /v1/models for the first model. */
  readonly model: string;
}

export class RemoteError extends Error {
  override readonly name = 'RemoteError';
}

function v1(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

function headers(target: RemoteTarget): Record<string, string> {
  return {
    'content-type': 'application/json',
    ...(target.apiKey === '' ? {} : { authorization: `Bearer ${target.apiKey}` }),
  };
}

async function failure(response: Response): Promise<RemoteError> {
  const body = await response.text().catch(() => '');
  let message = body;
  try {
    message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
  } catch {
    // Not JSON: the text as it came.
  }
  return new RemoteError(`the server answered ${response.status}: ${message || response.statusText}`);
}

export async function remoteModels(target: RemoteTarget): Promise<string[]> {
  const response = await fetch(`${v1(target.baseUrl)}/models`, { headers: headers(target) });
  if (!response.ok) throw await failure(response);
  const list = (await response.json()) as { data: { id: string }[] };
  return list.data.map((m) => m.id);
}

/** Payloads of the `data:` lines of an SSE stream, event by event. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data !== '') yield data;
    }
  }
}

export interface RemoteDelta {
  readonly index: number;
  readonly text: string;
  readonly finishReason?: string;
}

/** Streams a chat completion; `onDelta` gets each choice's text as it arrives. */
export async function streamRemoteChat(
  target: RemoteTarget,
  messages: readonly ChatTurn[],
  sampling: SamplingSettings,
  n: number,
  onDelta: (delta: RemoteDelta) => void,
  signal: AbortSignal,
): Promise<{ completionTokens: number | undefined; promptTokens: number | undefined }> {
  const model = target.model || (await remoteModels(target))[0] || 'default';
  const format = responseFormatBody(sampling);
  const response = await fetch(`${v1(target.baseUrl)}/chat/completions`, {
    method: 'POST',
    headers: headers(target),
    signal,
    body: JSON.stringify({
      model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      n,
      max_tokens: sampling.maxTokens,
      temperature: sampling.temperature,
      top_p: sampling.topP,
      top_k: sampling.topK,
      min_p: sampling.minP,
      ...(sampling.seed === undefined ? {} : { seed: sampling.seed }),
      ...(format === undefined ? {} : { response_format: format }),
    }),
  });
  if (!response.ok || !response.body) throw await failure(response);
  let completionTokens: number | undefined;
  let promptTokens: number | undefined;
  for await (const data of sseData(response.body)) {
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data) as {
      choices?: { index: number; delta?: { content?: string | null }; finish_reason?: string | null }[];
      usage?: { completion_tokens?: number; prompt_tokens?: number } | null;
      error?: { message?: string };
    };
    if (chunk.error) throw new RemoteError(chunk.error.message ?? 'the server reported an error mid-stream');
    if (chunk.usage?.completion_tokens !== undefined) completionTokens = chunk.usage.completion_tokens;
    if (chunk.usage?.prompt_tokens !== undefined) promptTokens = chunk.usage.prompt_tokens;
    for (const choice of chunk.choices ?? []) {
      onDelta({
        index: choice.index,
        text: choice.delta?.content ?? '',
        ...(choice.finish_reason ? { finishReason: choice.finish_reason } : {}),
      });
    }
  }
  return { completionTokens, promptTokens };
}
