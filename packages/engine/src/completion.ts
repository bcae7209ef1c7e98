import { SamplingRandom, type RowLogitsProcessors, type TopLogprobsRow } from '@llm/kernels';
import type { StreamDecoder } from '@llm/tokenizer';
import type { DeltaQueue } from './delta-queue.js';
import type { GrammarState } from './grammar.js';
import type { ParsedGenerateRequest } from './generate-request.js';
import type { GenerationResult } from './request-stream.js';
import { StopStringMatcher } from './stop-strings.js';

export type FinishReason = 'stop' | 'length' | 'abort';

/** What one step added to one completion. */
export interface GenerationDelta {
  /** Which completion of the request (0..n-1). */
  readonly index: number;
  /** Tokens generated in this step (usually one; none in a final delta that only ends it). */
  readonly tokenIds: readonly number[];
  /**
   * Text that became final: never a broken UTF-8 character, never text that may still turn out to
   * start a stop string. May be empty while such text is held.
   */
  readonly text: string;
  /** With `logprobs` requested: one per token of tokenIds (raw model log-probabilities). */
  readonly logprobs?: readonly TopLogprobsRow[];
  /** Set on the completion's last delta. */
  readonly finishReason?: FinishReason;
  /** The stop string or stop token id that ended it; absent for an end-of-generation token. */
  readonly stopReason?: string | number;
}

export interface CompletionResult {
  readonly index: number;
  /** Every generated token, including a final end-of-generation or stop token. */
  readonly tokenIds: readonly number[];
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly stopReason?: string | number;
  readonly logprobs?: readonly TopLogprobsRow[];
  /** performance.now() when each token came back from the device. */
  readonly tokenTimesMs: readonly number[];
}

/** The request a completion belongs to, as the step loop tracks it. */
export interface RequestState {
  readonly id: string;
  readonly request: ParsedGenerateRequest;
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly stopTokenIds: ReadonlySet<number>;
  readonly completions: Completion[];
  readonly deltas: DeltaQueue<GenerationDelta>;
  readonly arrivalMs: number;
  /** Where the prompt's first scheduled chunk started: the tokens the prefix cache supplied. Unset until then. */
  cachedPromptTokens: number | undefined;
  /** performance.now() when its first chunk was scheduled (queue time = scheduledMs - arrivalMs). Unset until then. */
  scheduledMs: number | undefined;
  numPreemptions: number;
  abortRequested: boolean;
  unfinished: number;
  readonly resolve: (result: GenerationResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One sequence being generated: its seeded draws, its tokens, and the text pipeline that turns
 * them into deltas (incremental UTF-8-safe decoding, then stop-string matching).
 */
export class Completion {
  readonly tokenIds: number[] = [];
  readonly tokenTimesMs: number[] = [];
  readonly logprobs: TopLogprobsRow[] = [];
  private readonly rng: SamplingRandom;
  private readonly stops: StopStringMatcher;
  private text = '';
  /** Tokens sampled but not yet turned into a delta. */
  private pending: number[] = [];
  private pendingLogprobs: TopLogprobsRow[] = [];
  finishReason: FinishReason | undefined;
  stopReason: string | number | undefined;
  /** The delta that ends it has been delivered. */
  delivered = false;
  /** Its sequence left the scheduler when its last token was scheduled, before that token came back. */
  released = false;
  /** Where a constrained completion stands in its grammar (set before its first step). */
  grammar: GrammarState | undefined;

  constructor(
    readonly state: RequestState,
    readonly index: number,
    readonly seqId: string,
    seed: number,
    private readonly decoder: StreamDecoder,
  ) {
    this.rng = new SamplingRandom(seed);
    const stop = state.request.stop;
    this.stops = new StopStringMatcher(typeof stop === 'string' ? [stop] : stop, state.request.includeStopStrInOutput);
  }

  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** The uniform for this completion's next sampled token: one draw per token, whatever the batch. */
  nextUniform(): number {
    return this.rng.nextUniform();
  }

  /** Whether its next token's processors depend on the tokens generated so far (penalties). */
  get penalised(): boolean {
    const s = this.state.request.sampling;
    return s.repetitionPenalty !== 1 || s.presencePenalty !== 0 || s.frequencyPenalty !== 0;
  }

  /**
   * Penalties, bias and bans for this completion's next token, or undefined when it has none:
   * until minTokens are out, end-of-generation and stop tokens are banned. `ahead`: tokens sampled
   * but not back yet (the next step was built while they were on the device).
   */
  processors(eogIds: ReadonlySet<number>, ahead = 0): RowLogitsProcessors | undefined {
    const r = this.state.request;
    const s = r.sampling;
    const bias = new Map<number, number>();
    for (const [id, value] of Object.entries(s.logitBias)) bias.set(Number(id), value);
    // A constrained completion ends where its grammar allows it to, not after minTokens.
    if (this.tokenIds.length + ahead < r.minTokens && !this.grammar) {
      for (const id of [...(r.ignoreEos ? [] : eogIds), ...this.state.stopTokenIds]) bias.set(id, -Infinity);
    }
    if (!this.penalised && bias.size === 0) return undefined;
    return {
      repetitionPenalty: s.repetitionPenalty,
      presencePenalty: s.presencePenalty,
      frequencyPenalty: s.frequencyPenalty,
      ...(s.repetitionPenalty !== 1 ? { promptTokens: this.state.promptIds } : {}),
      outputTokens: this.tokenIds,
      logitBias: bias,
    };
  }

  /** Records a sampled token; returns whether the completion ends with it. */
  accept(
    tokenId: number,
    logprob: TopLogprobsRow | undefined,
    nowMs: number,
    contextLength: number,
    eogIds: ReadonlySet<number>,
  ): boolean {
    this.tokenIds.push(tokenId);
    if (logprob) {
      this.logprobs.push(logprob);
      this.pendingLogprobs.push(logprob);
    }
    this.tokenTimesMs.push(nowMs);
    this.pending.push(tokenId);
    const s = this.state;
    // The mask allows only tokens the grammar accepts; a rejected token (a row whose every allowed
    // token was banned as well) ends the completion rather than the engine.
    const rejected = this.grammar !== undefined && !this.grammar.accept(tokenId);
    if (s.stopTokenIds.has(tokenId) || rejected) this.end('stop', rejected ? undefined : tokenId);
    else if (this.grammar?.terminated) this.end('stop');
    else if (!s.request.ignoreEos && eogIds.has(tokenId)) this.end('stop');
    else if (this.tokenIds.length >= s.maxTokens || s.promptIds.length + this.tokenIds.length >= contextLength) {
      this.end('length');
    }
    return this.finished;
  }

  end(reason: FinishReason, stopReason?: string | number): void {
    if (this.finished) return;
    this.grammar?.dispose();
    this.finishReason = reason;
    this.stopReason = stopReason;
    this.state.unfinished--;
  }

  /**
   * Turns the pending tokens into a delta and delivers it. Returns true when a stop string ended
   * the completion here (the step loop then stops its sequence).
   */
  deliver(): boolean {
    if (this.delivered || (this.pending.length === 0 && !this.finished)) return false;
    const tokenIds = this.pending;
    const logprobs = this.pendingLogprobs;
    this.pending = [];
    this.pendingLogprobs = [];
    let piece = '';
    for (const id of tokenIds) piece += this.decoder.push(id);
    const ending = this.finished;
    if (ending) piece += this.decoder.flush();
    const scan = this.stops.push(piece);
    let text = scan.text;
    let stoppedHere = false;
    if (scan.matched !== undefined) {
      stoppedHere = !this.finished;
      if (stoppedHere) this.end('stop', scan.matched);
      else {
        // It ended on this token for another reason too; the stop string is what the text shows.
        this.finishReason = 'stop';
        this.stopReason = scan.matched;
      }
    } else if (ending) text += this.stops.flush();
    this.text += text;
    const last = this.finished;
    this.delivered = last;
    this.state.deltas.push({
      index: this.index,
      tokenIds,
      text,
      ...(this.state.request.logprobs !== undefined ? { logprobs } : {}),
      ...(last ? { finishReason: this.finishReason! } : {}),
      ...(last && this.stopReason !== undefined ? { stopReason: this.stopReason } : {}),
    });
    return stoppedHere;
  }

  result(): CompletionResult {
    return {
      index: this.index,
      tokenIds: this.tokenIds,
      text: this.text,
      finishReason: this.finishReason ?? 'abort',
      ...(this.stopReason !== undefined ? { stopReason: this.stopReason } : {}),
      ...(this.state.request.logprobs !== undefined ? { logprobs: this.logprobs } : {}),
      tokenTimesMs: this.tokenTimesMs,
    };
  }
}
