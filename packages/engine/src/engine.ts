import { KvCacheManager } from '@llm/kvcache';
import type { ModelRunner, SampleRequest, SequenceChunk, StepResult } from '@llm/model';
import { LlmError } from '@llm/quant';
import { Scheduler, type SchedulerOutput } from '@llm/scheduler';
import type { Tokenizer } from '@llm/tokenizer';
import * as z from 'zod/mini';
import { Completion, type FinishReason, type RequestState } from './completion.js';
import { DeltaQueue } from './delta-queue.js';
import { ContextLengthError, EngineClosedError, EngineRequestError, QueueFullError } from './errors.js';
import { GrammarCache, grammarSpecSchema, type GrammarSpec } from './grammar.js';
import { parseGenerateRequest, type GenerateRequest, type ParsedGenerateRequest } from './generate-request.js';
import { RequestStream, type GenerationResult } from './request-stream.js';
import type { EngineTotals, StepRecord } from './step-record.js';
import { englishMessages } from './zod-messages.js';

export const engineOptionsSchema = z.strictObject({
  /** Most sequences in one step; default and maximum: the runner's maxSeqs. */
  maxNumSeqs: z.optional(z.int().check(z.positive())),
  /** Most tokens in one step (decodes and prefill chunks); default and maximum: the runner's maxStepTokens. */
  maxNumBatchedTokens: z.optional(z.int().check(z.positive())),
  /** 'fcfs' (default) or 'priority' (a request's `priority`, lower first). */
  policy: z._default(z.enum(['fcfs', 'priority']), 'fcfs'),
  /**
   * 'recompute' (default): a preempted sequence frees its blocks and is prefilled again later;
   * 'swap': its blocks are copied to host memory (up to swapBlocks) and copied back.
   */
  preemptionMode: z._default(z.enum(['recompute', 'swap']), 'recompute'),
  /** Blocks of host memory for swapped-out sequences ('swap'); default: as many as the pool. */
  swapBlocks: z.optional(z.int().check(z.nonnegative())),
  /** Most prompt tokens of one sequence per step; default: what the token budget leaves. */
  maxPrefillChunkTokens: z.optional(z.int().check(z.positive())),
  /** Reuse the K/V of cached prompt prefixes (default on). */
  enablePrefixCaching: z._default(z.boolean(), true),
  /** Requests allowed to wait for admission; past it generate() throws QueueFullError. */
  maxWaiting: z._default(z.int().check(z.positive()), Number.MAX_SAFE_INTEGER),
  /** Build step N + 1 while the device runs step N, where its sampling allows (default on); see Engine.overlapSteps. */
  overlapSteps: z._default(z.boolean(), true),
});

export type EngineOptions = z.input<typeof engineOptionsSchema>;

/** A step handed to the runner, whose tokens are still to come back. */
interface LaunchedStep {
  readonly out: SchedulerOutput;
  /** The completion each sample belongs to, in sample order. */
  readonly sampled: readonly Completion[];
  readonly result: Promise<StepResult>;
  readonly startMs: number;
  readonly scheduleMs: number;
  readonly submitMs: number;
  readonly masking: { firstMs: number; lastMs: number };
  /** Built while the previous step ran on the device (its decodes fed from that step's samples). */
  readonly overlapped: boolean;
  /** Its tokens went to the scheduler as pending (updatePending): resolvePending() names them. */
  deferred: boolean;
}

export interface GenerateOptions {
  /** Aborting cancels the request: its blocks are freed at the next step. */
  readonly signal?: AbortSignal;
}

/**
 * The continuous-batching engine: requests join and leave the running batch at every step. Each
 * step the scheduler picks the running decodes and then prefill chunks within the token and
 * sequence budgets; the runner executes them in one forward pass and samples on the device; the
 * loop waits on the device once per step and turns the previous step's tokens into text while the
 * device runs the next. Runs unchanged in Node and in a browser Web Worker.
 */
export class Engine {
  readonly kv: KvCacheManager;
  readonly scheduler: Scheduler;
  /**
   * Whether the loop builds and submits step N + 1 while the device runs step N. Off, every step
   * is built once the previous one's tokens are back: what a kernel profile that tells prefill
   * steps from decode steps by when tokens come back needs. May change between steps.
   */
  overlapSteps: boolean;
  private readonly maxWaiting: number;
  private readonly seqs = new Map<string, Completion>();
  private readonly aborting = new Set<RequestState>();
  private readonly listeners = new Set<(record: StepRecord) => void>();
  private readonly counts: Omit<EngineTotals, 'numRunning' | 'numWaiting' | 'prefixCacheQueries' | 'prefixCacheHits' | 'kvCacheUsage'> = {
    steps: 0,
    promptTokens: 0,
    cachedPromptTokens: 0,
    generationTokens: 0,
    preemptions: 0,
    requestsFinished: { stop: 0, length: 0, abort: 0 },
  };
  /** Requests whose grammar is being compiled: admitted to the scheduler once it is ready. */
  private readonly compiling = new Set<RequestState>();
  private grammarCache: GrammarCache | undefined;
  private looping = false;
  private idle: Promise<void> = Promise.resolve();
  private nextId = 0;
  private closed = false;
  private stoppedBy: LlmError | undefined;

  constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: Tokenizer,
    options: EngineOptions = {},
  ) {
    const parsed = engineOptionsSchema.safeParse(options, { error: englishMessages });
    if (!parsed.success) throw new EngineRequestError(`invalid engine options:\n${z.prettifyError(parsed.error)}`);
    const o = parsed.data;
    const maxNumSeqs = o.maxNumSeqs ?? runner.maxSeqs;
    const maxNumBatchedTokens = o.maxNumBatchedTokens ?? runner.maxStepTokens;
    if (maxNumSeqs > runner.maxSeqs || maxNumBatchedTokens > runner.maxStepTokens) {
      throw new EngineRequestError(
        `maxNumSeqs ${maxNumSeqs} and maxNumBatchedTokens ${maxNumBatchedTokens} must fit the runner's ` +
          `maxSeqs ${runner.maxSeqs} and maxStepTokens ${runner.maxStepTokens}; load the runner with larger limits`,
      );
    }
    this.maxWaiting = o.maxWaiting;
    this.overlapSteps = o.overlapSteps;
    this.kv = new KvCacheManager({
      numBlocks: runner.numBlocks,
      blockSize: runner.blockSize,
      enablePrefixCaching: o.enablePrefixCaching,
      numHostBlocks: o.preemptionMode === 'swap' ? (o.swapBlocks ?? runner.numBlocks) : 0,
    });
    this.scheduler = new Scheduler(this.kv, {
      maxNumSeqs,
      maxNumBatchedTokens,
      policy: o.policy,
      preemptionMode: o.preemptionMode,
      ...(o.maxPrefillChunkTokens === undefined ? {} : { maxPrefillChunkTokens: o.maxPrefillChunkTokens }),
    });
  }

  /** Submits a request; it starts at the next step. Throws a typed error for a request that cannot run. */
  generate(request: GenerateRequest, options: GenerateOptions = {}): RequestStream {
    if (this.closed) throw new EngineClosedError();
    const failure = this.failure;
    if (failure !== undefined) throw failure;
    const r = parseGenerateRequest(request);
    const promptIds = this.promptOf(r);
    const contextLength = this.runner.config.contextLength;
    const room = contextLength - promptIds.length;
    const vocab = this.runner.config.vocabSize;
    for (const id of [...r.stopTokenIds, ...Object.keys(r.sampling.logitBias).map(Number)]) {
      if (id >= vocab) throw new EngineRequestError(`token id ${id} (stopTokenIds or logitBias) is outside the vocabulary (0..${vocab - 1})`);
    }
    if (r.n > this.runner.maxSeqs) {
      throw new EngineRequestError(`n is ${r.n}, more than the ${this.runner.maxSeqs} sequences one step holds`);
    }
    if (this.scheduler.numWaiting >= this.maxWaiting) throw new QueueFullError(this.maxWaiting);

    const id = String(this.nextId++);
    let resolve!: (result: GenerationResult) => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<GenerationResult>((res, rej) => ((resolve = res), (reject = rej)));
    const cancel = () => this.requestAbort(state);
    const state: RequestState = {
      id,
      request: r,
      promptIds,
      maxTokens: Math.min(r.maxTokens ?? room, room),
      stopTokenIds: new Set(r.stopTokenIds),
      completions: [],
      deltas: new DeltaQueue(cancel),
      arrivalMs: performance.now(),
      cachedPromptTokens: undefined,
      scheduledMs: undefined,
      numPreemptions: 0,
      abortRequested: false,
      unfinished: r.n,
      resolve,
      reject,
    };
    const seed = r.seed ?? Math.floor(Math.random() * 2 ** 32);
    const previousId = promptIds[promptIds.length - 1]!;
    for (let i = 0; i < r.n; i++) {
      const seqId = i === 0 ? id : `${id}/${i}`;
      // Completion i > 0 draws from its own stream, derived from the request's seed.
      const completionSeed = i === 0 ? seed : (Math.imul(seed ^ 0x9e3779b9, i + 1) ^ (i * 0x85ebca6b)) >>> 0;
      state.completions.push(
        new Completion(state, i, seqId, completionSeed, this.tokenizer.createStreamDecoder({ previousId })),
      );
    }
    if (r.grammar === undefined) this.admit(state);
    else this.admitWithGrammar(state, r.grammar);
    const stream = new RequestStream(state, done, cancel);
    if (options.signal?.aborted) this.requestAbort(state);
    else options.signal?.addEventListener('abort', cancel, { once: true });
    return stream;
  }

  /**
   * Compiles a grammar for this engine's tokenizer (once; requests with the same grammar reuse it).
   * generate() compiles on its own; awaiting this first turns a bad grammar into a GrammarError
   * before anything streams.
   */
  async prepareGrammar(spec: GrammarSpec): Promise<void> {
    const parsed = grammarSpecSchema.safeParse(spec, { error: englishMessages });
    if (!parsed.success) throw new EngineRequestError(`invalid grammar:\n${z.prettifyError(parsed.error)}`);
    await this.grammars.compile(parsed.data);
  }

  private get grammars(): GrammarCache {
    this.grammarCache ??= GrammarCache.for(this.tokenizer, this.runner.config.vocabSize);
    return this.grammarCache;
  }

  private admit(state: RequestState): void {
    this.scheduler.add({
      id: state.id,
      promptIds: state.promptIds,
      maxTokens: state.maxTokens,
      priority: state.request.priority,
      ...(state.request.cacheKey === undefined ? {} : { cacheKey: state.request.cacheKey }),
    });
    this.seqs.set(state.id, state.completions[0]!);
    this.counts.promptTokens += state.promptIds.length;
    this.wake();
  }

  /** Joins the batch once each completion has its grammar state; a grammar that fails to compile fails the request. */
  private admitWithGrammar(state: RequestState, spec: GrammarSpec): void {
    this.compiling.add(state);
    Promise.all(state.completions.map(() => this.grammars.start(spec))).then(
      (grammars) => {
        this.compiling.delete(state);
        if (state.abortRequested || this.closed) {
          for (const g of grammars) g.dispose();
          return;
        }
        state.completions.forEach((c, i) => (c.grammar = grammars[i]));
        this.admit(state);
      },
      (error: unknown) => {
        this.compiling.delete(state);
        if (state.abortRequested) return;
        state.unfinished = 0;
        state.deltas.fail(error);
        state.reject(error);
      },
    );
  }

  /** generate() and wait for the whole result. */
  complete(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerationResult> {
    return this.generate(request, options).result();
  }

  /** Calls `listener` with the record of every step; returns the function that unsubscribes. */
  onStep(listener: (record: StepRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  totals(): EngineTotals {
    const prefix = this.kv.prefixCacheStats();
    return {
      ...this.counts,
      requestsFinished: { ...this.counts.requestsFinished },
      prefixCacheQueries: prefix.queryTokens,
      prefixCacheHits: prefix.hitTokens,
      numRunning: this.scheduler.numRunning,
      numWaiting: this.scheduler.numWaiting,
      kvCacheUsage: this.kv.usage().usage,
    };
  }

  /**
   * Why the engine stopped serving (a lost device, say), or undefined while it can serve. Once set,
   * generate() throws it and every request in flight has failed with it.
   */
  get failure(): LlmError | undefined {
    const lost = this.stoppedBy === undefined ? this.runner.deviceLost() : undefined;
    // A device lost while idle: the next step would fail with it, so say so now.
    return lost === undefined ? this.stoppedBy : new LlmError('unavailable', `WebGPU device lost (${lost})`);
  }

  /** Aborts every request and waits for the step loop to stop. Takes no more requests. */
  async close(): Promise<void> {
    this.closed = true;
    for (const completion of this.seqs.values()) this.requestAbort(completion.state);
    for (const state of this.compiling) this.requestAbort(state);
    this.wake();
    await this.idle;
  }

  private promptOf(r: ParsedGenerateRequest): number[] {
    const ids = r.promptIds ?? this.tokenizer.encode(r.prompt!, { addSpecial: true });
    if (ids.length === 0) throw new EngineRequestError('the prompt is empty: give at least one token');
    const contextLength = this.runner.config.contextLength;
    if (ids.length >= contextLength) throw new ContextLengthError(ids.length, contextLength);
    const vocab = this.runner.config.vocabSize;
    for (const id of ids) {
      if (id >= vocab) throw new EngineRequestError(`prompt token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    }
    return ids;
  }

  private requestAbort(state: RequestState): void {
    if (state.unfinished === 0 || state.abortRequested) return;
    state.abortRequested = true;
    this.aborting.add(state);
    this.wake();
  }

  private wake(): void {
    if (this.looping) return;
    this.looping = true;
    this.idle = this.run();
  }

  /**
   * The step loop. While the device runs step N, the host builds and submits step N + 1 whenever
   * N's tokens are not needed to build it: its decodes then take their input tokens from N's
   * samples on the device, and the loop waits on the device once per step, for N's tokens.
   */
  private async run(): Promise<void> {
    let previous: Completion[] = [];
    let current: LaunchedStep | undefined;
    let lastEndMs = Number.NEGATIVE_INFINITY;
    try {
      for (;;) {
        if (current === undefined) {
          this.applyAborts();
          if (!this.scheduler.hasUnfinished()) break;
          current = await this.launch(undefined);
        }
        let next: LaunchedStep | undefined;
        if (this.canRunAhead(current)) {
          this.scheduler.updatePending(current.out);
          current.deferred = true;
          this.releaseAtLength(current.sampled);
          this.applyAborts();
          if (this.scheduler.hasUnfinished()) next = await this.launch(current);
        }
        // The previous step's text work runs while the device computes.
        this.deliver(previous);
        const result = await current.result;
        const nowMs = performance.now();
        previous = this.acceptTokens(current, result, nowMs);
        this.record(current, nowMs - Math.max(current.startMs, lastEndMs), previous);
        lastEndMs = nowMs;
        current = next;
      }
      this.deliver(previous);
    } catch (error) {
      this.failAll(error);
    } finally {
      // Synchronously with the last check of the queues: a request submitted from here on starts a new loop.
      this.looping = false;
    }
  }

  /** Schedules, builds and submits a step; `previous` is the step still on the device whose samples it may take. */
  private async launch(previous: LaunchedStep | undefined): Promise<LaunchedStep> {
    const startMs = performance.now();
    const out = this.scheduler.schedule();
    const masking = { firstMs: Number.POSITIVE_INFINITY, lastMs: Number.NEGATIVE_INFINITY };
    const { chunks, samples, sampled, previousSamples } = this.buildStep(out, masking, previous);
    // Swapped-out blocks must be on the host before the step reuses them (a wait only in such steps).
    if (out.swapOut.length > 0) await this.runner.swapOut(out.swapOut);
    const calledMs = performance.now();
    const result = this.runner.step(chunks, samples, { copies: out.copies, swapIn: out.swapIn, previousSamples });
    // Awaited in its turn; a failure of an earlier step must not leave this one's unobserved.
    result.catch(() => undefined);
    return {
      out,
      sampled,
      result,
      startMs,
      scheduleMs: calledMs - startMs,
      submitMs: performance.now() - calledMs,
      masking,
      overlapped: previous !== undefined,
      deferred: false,
    };
  }

  /**
   * Whether the next step can be built before this one's tokens are back: each of its samples
   * feeds only the next decode of its own sequence, and nothing the host decides for that decode
   * (penalties over the generated tokens, a grammar's mask, forking n > 1 completions) needs the token.
   */
  private canRunAhead(step: LaunchedStep): boolean {
    if (!this.overlapSteps || step.sampled.length > this.runner.maxSeqs) return false;
    return step.sampled.every(
      (c) => !c.penalised && c.grammar === undefined && !(c.state.request.n > 1 && c.tokenIds.length === 0),
    );
  }

  /**
   * Sequences whose pending token is their last (maxTokens, context length) leave the scheduler
   * now, so their blocks are not held for a step; the token itself still arrives.
   */
  private releaseAtLength(sampled: readonly Completion[]): void {
    for (const c of sampled) {
      if (c.finished || c.tokenIds.length + 1 < c.state.maxTokens) continue;
      c.released = true;
      this.scheduler.finish(c.seqId);
    }
  }

  /** The runner's view of a scheduled step, and which completion each sample belongs to. */
  private buildStep(out: SchedulerOutput, masking: { firstMs: number; lastMs: number }, previous: LaunchedStep | undefined) {
    const samples: SampleRequest[] = [];
    const sampled: Completion[] = [];
    const previousSamples: [chunk: number, sample: number][] = [];
    const chunks = out.chunks.map((c, i): SequenceChunk => {
      const completion = this.seqs.get(c.id)!;
      completion.state.cachedPromptTokens ??= c.startPos;
      completion.state.scheduledMs ??= performance.now();
      if (c.pendingToken) previousSamples.push([i, previous!.sampled.indexOf(completion)]);
      if (c.sample) {
        // The step that ends an n > 1 prompt samples every completion's first token from it.
        const group = completion.tokenIds.length === 0 && completion.index === 0 ? completion.state.completions : [completion];
        for (const member of group) {
          // A completion whose last token is still on the device has one more than it holds.
          const ahead = c.pendingToken ? 1 : 0;
          const processors = member.processors(this.tokenizer.eogIds, ahead);
          const logprobs = member.state.request.logprobs;
          const grammar = member.grammar;
          samples.push({
            ...(grammar
              ? {
                  // The step's masks are computed one after another: their span is their host time.
                  tokenMask: async () => {
                    masking.firstMs = Math.min(masking.firstMs, performance.now());
                    const mask = await grammar.nextTokenMask();
                    masking.lastMs = Math.max(masking.lastMs, performance.now());
                    return mask;
                  },
                }
              : {}),
            chunk: i,
            params: member.state.request.sampling,
            u: member.nextUniform(),
            ...(processors ? { processors } : {}),
            ...(logprobs === undefined ? {} : { logprobs }),
          });
          sampled.push(member);
        }
      }
      // Its token is fed from the previous step's sample on the device: any id stands in here.
      const tokens = c.pendingToken ? [0] : c.tokens;
      return { tokens, startPos: c.startPos, blockTable: c.blockTable, prefill: c.isPrefill };
    });
    for (const id of out.preempted) {
      const completion = this.seqs.get(id);
      if (completion) completion.state.numPreemptions++;
    }
    this.counts.preemptions += out.preempted.length;
    return { chunks, samples, sampled, previousSamples };
  }

  /** Hands the step's tokens to the scheduler and the completions; ends those that stop here. */
  private acceptTokens(step: LaunchedStep, { tokens, logprobs }: StepResult, nowMs: number) {
    const live: [Completion, number][] = [];
    for (const [i, completion] of step.sampled.entries()) {
      if (completion.index > 0 && !this.seqs.has(completion.seqId) && !completion.finished) {
        // n > 1: the other completions share the prompt's blocks from here on.
        this.scheduler.fork(completion.state.completions[0]!.seqId, completion.seqId);
        this.seqs.set(completion.seqId, completion);
      }
      if (!completion.finished) live.push([completion, i]);
    }
    const sampledTokens = new Map(live.map(([c, i]) => [c.seqId, tokens[i]!]));
    if (step.deferred) this.scheduler.resolvePending(step.out, sampledTokens);
    else this.scheduler.update(step.out, sampledTokens);
    const contextLength = this.runner.config.contextLength;
    for (const [completion, i] of live) {
      this.counts.generationTokens++;
      if (completion.accept(tokens[i]!, logprobs[i], nowMs, contextLength, this.tokenizer.eogIds)) this.stop(completion);
    }
    return live.map(([c]) => c);
  }

  /** Turns accepted tokens into deltas; a stop string found here ends its sequence now. */
  private deliver(completions: readonly Completion[]): void {
    for (const completion of completions) {
      if (completion.deliver()) this.stop(completion);
      if (completion.delivered) this.settle(completion.state);
    }
  }

  private stop(completion: Completion): void {
    if (this.seqs.delete(completion.seqId) && !completion.released) this.scheduler.finish(completion.seqId);
    this.counts.requestsFinished[completion.finishReason!]++;
  }

  private applyAborts(): void {
    for (const state of this.aborting) {
      for (const completion of state.completions) {
        if (completion.finished) continue;
        if (this.seqs.delete(completion.seqId)) this.scheduler.abort(completion.seqId);
        completion.end('abort');
        this.counts.requestsFinished.abort++;
        completion.deliver();
      }
      this.settle(state);
    }
    this.aborting.clear();
  }

  /** Resolves the request once every completion's last delta is out. */
  private settle(state: RequestState): void {
    if (state.unfinished > 0 || !state.completions.every((c) => c.delivered)) return;
    state.deltas.end();
    const completions = state.completions.map((c) => c.result());
    const firstTokenMs = Math.min(...completions.map((c) => c.tokenTimesMs[0] ?? Number.POSITIVE_INFINITY));
    state.resolve({
      requestId: state.id,
      promptTokenIds: state.promptIds,
      completions,
      cachedPromptTokens: state.cachedPromptTokens ?? 0,
      usage: {
        promptTokens: state.promptIds.length,
        completionTokens: completions.reduce((n, c) => n + c.tokenIds.length, 0),
      },
      metrics: {
        arrivalMs: state.arrivalMs,
        scheduledMs: state.scheduledMs,
        firstTokenMs: Number.isFinite(firstTokenMs) ? firstTokenMs : undefined,
        finishedMs: performance.now(),
        numPreemptions: state.numPreemptions,
      },
    });
    this.counts.cachedPromptTokens += state.cachedPromptTokens ?? 0;
  }

  private record(step: LaunchedStep, wallMs: number, got: readonly Completion[]): void {
    this.counts.steps++;
    if (this.listeners.size === 0) return;
    const { out, startMs, masking } = step;
    const usage = this.kv.usage();
    const finished: { seqId: string; reason: FinishReason }[] = [];
    for (const c of got) if (c.finished) finished.push({ seqId: c.seqId, reason: c.finishReason! });
    const record: StepRecord = {
      step: out.step,
      startMs,
      wallMs,
      scheduleMs: step.scheduleMs,
      submitMs: step.submitMs,
      maskMs: Math.max(0, masking.lastMs - masking.firstMs),
      overlapped: step.overlapped,
      prefill: out.chunks
        .filter((c) => c.isPrefill)
        .map((c) => ({ seqId: c.id, tokens: c.tokens.length, startPos: c.startPos })),
      decode: out.chunks.filter((c) => !c.isPrefill).map((c) => c.id),
      copies: out.copies.map(({ src, dst }) => ({ src, dst })),
      numPrefillTokens: out.numPrefillTokens,
      numDecodeTokens: out.numDecodeTokens,
      kv: {
        totalBlocks: usage.totalBlocks,
        usedBlocks: usage.usedBlocks,
        cachedBlocks: usage.cachedBlocks,
        freeBlocks: usage.freeBlocks,
        usage: usage.usage,
      },
      sampled: got.map((c) => c.seqId),
      preempted: out.preempted,
      finished,
      numRunning: this.scheduler.numRunning,
      numWaiting: this.scheduler.numWaiting,
    };
    for (const listener of this.listeners) listener(record);
  }

  /** A failed step (a lost device, say) fails every request in flight; the engine takes no more. */
  private failAll(error: unknown): void {
    this.stoppedBy =
      error instanceof LlmError ? error : new LlmError('internal', `engine step failed: ${String(error)}`, { cause: error });
    const states = new Set([...this.seqs.values()].map((c) => c.state));
    for (const state of states) {
      for (const completion of state.completions) {
        if (this.seqs.delete(completion.seqId)) this.scheduler.abort(completion.seqId);
      }
      state.deltas.fail(this.stoppedBy);
      state.reject(this.stoppedBy);
    }
  }
}
