import type { GenerationResult } from '@llm/engine';
import type { ModelRunner } from '@llm/model';

export interface GenerationTimings {
  /** From submission to the first token (in a batch, waiting for a place in the batch included). */
  prefillMs: number;
  /** From the first token to the last. */
  decodeMs: number;
  /** Tokens after the first per second of decodeMs. */
  decodeTokensPerSecond: number;
}

/** Prefill time (to the first token) and decode speed (tokens after the first) of one completion. */
export function timingsOf(result: GenerationResult): GenerationTimings {
  const times = result.completions[0]!.tokenTimesMs;
  const first = times[0] ?? result.metrics.finishedMs;
  const decodeMs = (times.at(-1) ?? first) - first;
  return {
    prefillMs: first - result.metrics.arrivalMs,
    decodeMs,
    decodeTokensPerSecond: times.length > 1 && decodeMs > 0 ? ((times.length - 1) * 1000) / decodeMs : 0,
  };
}

/** The object `generate --json` prints for one request (one line per request with --batch-file). */
export function generationJson(runner: ModelRunner, generation: GenerationResult, seed: number) {
  const result = generation.completions[0]!;
  return {
    backend: runner.backend,
    adapter: runner.adapterName,
    promptTokenIds: generation.promptTokenIds,
    tokenIds: result.tokenIds,
    text: result.text,
    finishReason: result.finishReason,
    seed,
    timings: timingsOf(generation),
  };
}
