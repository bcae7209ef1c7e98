import type { Generation } from './generation.js';
import { usageOf } from './response-ids.js';

/** The fields every chunk of one streamed response shares. */
export interface ChunkHead {
  readonly id: string;
  readonly object: 'chat.completion.chunk' | 'text_completion';
  readonly created: number;
  readonly model: string;
}

/**
 * How a stream ends, as OpenAI's do: with `stream_options.include_usage`, a last chunk without
 * choices that carries the usage; then `[DONE]`.
 */
export async function* streamEnd(
  generation: Generation,
  head: ChunkHead,
  includeUsage: boolean,
): AsyncGenerator<object | '[DONE]'> {
  if (includeUsage) yield { ...head, choices: [], usage: usageOf(await generation.results()) };
  yield '[DONE]';
}
