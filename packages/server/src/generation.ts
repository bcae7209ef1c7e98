import { ServerError } from './server-error.js';
import type { ServerMetrics } from './server-metrics.js';
import type {
  ServingDelta,
  ServingEngine,
  ServingRequest,
  ServingResult,
  ServingStream,
} from './serving-engine.js';

/** A delta of one of a generation's engine requests (one per prompt). */
export interface PromptDelta {
  readonly prompt: number;
  readonly delta: ServingDelta;
}

/**
 * The engine requests of one HTTP request (a completions request may carry several prompts), run
 * together: their deltas merged as they come, the gaps between tokens observed for the
 * inter-token histogram, and each finished request observed for the others.
 */
export class Generation {
  private constructor(
    private readonly engine: ServingEngine,
    private readonly streams: readonly ServingStream[],
    private readonly metrics: ServerMetrics,
  ) {
    for (const stream of streams)
      stream.result().then(
        (r) => metrics.observeRequest(r),
        () => {},
      );
  }

  /**
   * Submits every request, aborted by `signal`; a request the engine refuses (a full queue, say)
   * aborts those submitted before it and throws.
   */
  static start(
    engine: ServingEngine,
    requests: readonly ServingRequest[],
    signal: AbortSignal,
    metrics: ServerMetrics,
  ): Generation {
    const streams: ServingStream[] = [];
    try {
      for (const request of requests) streams.push(engine.generate(request, { signal }));
    } catch (error) {
      for (const stream of streams) stream.abort();
      throw engineError(engine, error);
    }
    return new Generation(engine, streams, metrics);
  }

  abort(): void {
    for (const stream of this.streams) stream.abort();
  }

  /** Every request's deltas, interleaved in arrival order. Leaving early aborts what is left. */
  async *deltas(): AsyncGenerator<PromptDelta> {
    const iterators = this.streams.map((s) => s[Symbol.asyncIterator]());
    const pending = new Map<number, Promise<{ prompt: number; next: IteratorResult<ServingDelta> }>>();
    const pull = (prompt: number) => {
      const p = iterators[prompt]!.next().then((next) => ({ prompt, next }));
      // Once one request fails the others may fail too, with nobody left to await them.
      p.catch(() => {});
      pending.set(prompt, p);
    };
    iterators.forEach((_, i) => pull(i));
    const lastTokenMs = new Map<string, number>();
    try {
      while (pending.size > 0) {
        const { prompt, next } = await Promise.race(pending.values());
        if (next.done) {
          pending.delete(prompt);
          continue;
        }
        pull(prompt);
        this.observeGaps(lastTokenMs, `${prompt}/${next.value.index}`, next.value.tokenIds.length);
        yield { prompt, delta: next.value };
      }
    } catch (error) {
      throw engineError(this.engine, error);
    } finally {
      for (const prompt of pending.keys()) void iterators[prompt]!.return?.();
    }
  }

  /** Reads every delta without keeping them (they time the tokens for the metrics), for a caller that wants results. */
  async drain(): Promise<void> {
    const deltas = this.deltas();
    while (!(await deltas.next()).done);
  }

  /** Every request's result, in prompt order. */
  async results(): Promise<ServingResult[]> {
    try {
      return await Promise.all(this.streams.map((s) => s.result()));
    } catch (error) {
      throw engineError(this.engine, error);
    }
  }

  /**
   * Tokens arrive with their deltas: a delta of k tokens after a gap of t is k gaps of t/k. The
   * first delta of a completion starts it (time to first token), so its tokens add no gap.
   */
  private observeGaps(lastTokenMs: Map<string, number>, key: string, tokens: number): void {
    if (tokens === 0) return;
    const now = performance.now();
    const last = lastTokenMs.get(key);
    lastTokenMs.set(key, now);
    if (last === undefined) return;
    const gap = (now - last) / 1000 / tokens;
    for (let i = 0; i < tokens; i++) this.metrics.observeTokenGap(gap);
  }
}

/** An engine's error as the client sees it: once the engine itself has failed, 503. */
function engineError(engine: ServingEngine, error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  const failure = engine.failure;
  if (failure !== undefined) {
    const why = failure instanceof Error ? failure.message : String(failure);
    return new ServerError('unavailable', `the engine has stopped serving: ${why}`, { cause: error });
  }
  return ServerError.from(error);
}
