import type { CompletionResult, GenerationDelta, RequestState } from './completion.js';

export interface GenerationResult {
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  /** One per completion (n of them), in index order. */
  readonly completions: readonly CompletionResult[];
  /** Prompt tokens whose K/V came from the prefix cache instead of a prefill. */
  readonly cachedPromptTokens: number;
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
  readonly metrics: {
    /** performance.now() when the request was submitted. */
    readonly arrivalMs: number;
    /** When its first chunk was scheduled (time in the queue = scheduledMs - arrivalMs); unset if it never ran. */
    readonly scheduledMs: number | undefined;
    /** When its first token came back (time to first token = firstTokenMs - arrivalMs). */
    readonly firstTokenMs: number | undefined;
    readonly finishedMs: number;
    /** Times a sequence of the request was preempted (and recomputed later). */
    readonly numPreemptions: number;
  };
}

/**
 * A submitted request: iterate it for deltas as they are generated, or await `result()`. Leaving a
 * `for await` loop early cancels the request, as `abort()` does.
 */
export class RequestStream implements AsyncIterable<GenerationDelta> {
  constructor(
    private readonly state: RequestState,
    private readonly done: Promise<GenerationResult>,
    private readonly cancel: () => void,
  ) {
    // A caller that only iterates still gets failures through the iterator.
    done.catch(() => {});
  }

  get requestId(): string {
    return this.state.id;
  }

  get promptTokenIds(): readonly number[] {
    return this.state.promptIds;
  }

  [Symbol.asyncIterator](): AsyncIterator<GenerationDelta> {
    return this.state.deltas[Symbol.asyncIterator]();
  }

  /** Resolves once every completion has finished (or the request was aborted). */
  result(): Promise<GenerationResult> {
    return this.done;
  }

  /** Cancels the request; its blocks are freed at the next step and it finishes with 'abort'. */
  abort(): void {
    this.cancel();
  }
}
