import { PENDING_TOKEN, type BlockCopy, type KvCacheManager, type SwapCopy } from '@llm/kvcache';
import {
  DuplicateRequestError,
  RequestTooLongError,
  SchedulerOptionsError,
  SchedulerOrderError,
  UnknownRequestError,
} from './errors.js';
import { OrderedQueue } from './ordered-queue.js';
import {
  parseSchedulerOptions,
  type ResolvedSchedulerOptions,
  type SchedulerOptions,
} from './scheduler-options.js';
import type { ScheduledChunk, SchedulerOutput, SchedulerStats } from './scheduler-output.js';
import { parseSchedulerRequest, type SchedulerRequest } from './scheduler-request.js';
import { numGeneratedOf, sequenceOrder, type Sequence, type SequenceStatus } from './sequence.js';

/** The step whose chunks await update(): each chunk with the sequence it was built for. */
interface PendingStep {
  readonly step: number;
  readonly entries: Map<string, { readonly seq: Sequence; readonly chunk: ScheduledChunk }>;
  /** Children forked from a sampling chunk of this step: they take a sample from it too. */
  readonly forks: { readonly parent: Sequence; readonly child: Sequence }[];
}

/** A step passed to updatePending(): where each of its samples stands in for a token, until resolvePending(). */
interface DeferredStep {
  readonly step: number;
  /** Each sequence sampled by the step, with the index of its PENDING_TOKEN in its token list. */
  readonly slots: Map<Sequence, number>;
}

/** What one schedule() call accumulates. */
interface StepBuilder {
  tokenBudget: number;
  seqBudget: number;
  readonly chunkOf: Map<Sequence, ScheduledChunk>;
  readonly copies: BlockCopy[];
  readonly swapOut: SwapCopy[];
  readonly swapIn: SwapCopy[];
  readonly preempted: string[];
}

/**
 * Continuous (iteration-level) batching over a paged KV cache, after vLLM's scheduler. Each step
 * runs, within maxNumSeqs and maxNumBatchedTokens: every running decode (one token each), then
 * the running sequences' next prefill chunks, then swapped sequences coming back, then new
 * admissions, in the policy's order. When a decode finds no free block, the last sequence in run
 * order is preempted (recompute or swap) instead of failing.
 *
 * Step protocol: `out = schedule()`, run the model on `out.chunks`, `update(out, sampled)`. Stop a
 * sequence with finish() (EOS, stop string, max tokens) or abort() at any time.
 *
 * To build step N + 1 while step N is still on the device, call `updatePending(out)` instead of
 * update(): every token step N samples is taken as PENDING_TOKEN, so the next schedule() can run;
 * its decodes of those sequences are marked `pendingToken`. Once step N's tokens are back,
 * `resolvePending(out, sampled)` names them, before step N + 1's own update.
 */
export class Scheduler {
  readonly kv: KvCacheManager;
  readonly options: Readonly<ResolvedSchedulerOptions>;
  /** Blocks admission and swap-in leave available: floor(watermark * numBlocks), as vLLM. */
  readonly watermarkBlocks: number;

  private readonly order: (a: Sequence, b: Sequence) => number;
  private readonly live = new Map<string, Sequence>();
  private readonly waiting: OrderedQueue<Sequence>;
  private readonly running: OrderedQueue<Sequence>;
  private readonly swapped: OrderedQueue<Sequence>;
  private readonly maxChunk: number;
  private pending: PendingStep | null = null;
  private deferred: DeferredStep | null = null;
  private abortedSinceSchedule: string[] = [];
  private nextArrival = 0;
  private nextBirth = 0;

  private steps = 0;
  private recomputePreemptions = 0;
  private swapPreemptions = 0;
  private swapIns = 0;
  private prefillTokens = 0;
  private decodeTokens = 0;
  private added = 0;
  private finished = 0;
  private aborted = 0;

  constructor(kv: KvCacheManager, options: SchedulerOptions) {
    this.kv = kv;
    this.options = parseSchedulerOptions(options);
    if (this.options.preemptionMode === 'swap' && kv.numHostBlocks === 0) {
      throw new SchedulerOptionsError(
        "invalid scheduler options: preemptionMode 'swap' needs a host pool, but the KV cache " +
          "has numHostBlocks 0; create the KvCacheManager with numHostBlocks > 0 or use 'recompute'.",
      );
    }
    this.watermarkBlocks = Math.floor(this.options.watermark * kv.numBlocks);
    this.maxChunk = this.options.maxPrefillChunkTokens ?? Number.POSITIVE_INFINITY;
    this.order = sequenceOrder(this.options.policy);
    this.waiting = new OrderedQueue(this.order);
    this.running = new OrderedQueue(this.order);
    this.swapped = new OrderedQueue(this.order);
  }

  // ---- requests -----------------------------------------------------------------------------

  /**
   * Queues a request. Throws InvalidRequestError (empty prompt, bad token id or maxTokens),
   * DuplicateRequestError, or RequestTooLongError when prompt + maxTokens needs more blocks than
   * the pool keeps above the watermark: such a request could never run, even alone.
   */
  add(request: SchedulerRequest): void {
    const r = parseSchedulerRequest(request);
    if (this.live.has(r.id)) throw new DuplicateRequestError(r.id, 'add');
    const bs = this.kv.blockSize;
    const usable = this.kv.numBlocks - this.watermarkBlocks;
    const needed = Math.ceil((r.promptIds.length + r.maxTokens) / bs);
    if (needed > usable) {
      throw new RequestTooLongError(r.id, r.promptIds.length, r.maxTokens, needed, usable, bs);
    }
    const seq: Sequence = {
      id: r.id,
      priority: r.priority ?? 0,
      arrival: this.nextArrival++,
      birth: this.nextBirth++,
      maxTokens: r.maxTokens,
      cacheKey: r.cacheKey,
      promptLength: r.promptIds.length,
      tokens: r.promptIds.slice(),
      status: 'waiting',
      phase: 'prefill',
      numComputed: 0,
      prefillEnd: 0,
      preempted: false,
    };
    this.live.set(seq.id, seq);
    this.waiting.insert(seq);
    this.added++;
  }

  /**
   * Removes a sequence from whatever queue holds it and frees its blocks at once. Returns false
   * for an unknown id. The id is listed in the next output's `aborted`; an update() of a step that
   * ran it skips it.
   */
  abort(id: string): boolean {
    const seq = this.live.get(id);
    if (!seq) return false;
    this.remove(seq);
    this.abortedSinceSchedule.push(id);
    this.aborted++;
    return true;
  }

  /** The engine stopped the sequence (EOS, stop string, max tokens): frees its blocks now. */
  finish(id: string): void {
    const seq = this.live.get(id);
    if (!seq) throw new UnknownRequestError(id, 'finish');
    this.remove(seq);
    this.finished++;
  }

  /**
   * Creates `childId` sharing every block of `parentId` (copy-on-write) and its tokens, for n > 1
   * sampling: call it after the step whose chunk completed the parent's prompt, before update(),
   * and pass the child's own sample in that update(). A decoding parent may also be forked
   * between steps (the child then repeats the parent's last token as its next input). The child
   * runs right after its parent in run order and has the parent's maxTokens and priority.
   */
  fork(parentId: string, childId: string): void {
    const op = 'fork';
    const parent = this.live.get(parentId);
    if (!parent) throw new UnknownRequestError(parentId, op);
    if (this.live.has(childId)) throw new DuplicateRequestError(childId, op);
    const entry = this.pending?.entries.get(parentId);
    const inFlight = entry !== undefined && entry.seq === parent;
    const at = `${op}(${JSON.stringify(parentId)}, ${JSON.stringify(childId)})`;
    if (this.deferred?.slots.has(parent)) {
      throw new SchedulerOrderError(`${at}: the parent's last token is pending; fork it after resolvePending().`);
    }
    if (parent.status !== 'running') {
      throw new SchedulerOrderError(
        `${at}: the parent is ${parent.status}; fork it once it runs, after the step whose chunk ` +
          `completes its prompt (sample = true) and before update().`,
      );
    }
    if (inFlight ? !entry.chunk.sample : parent.phase !== 'decode') {
      throw new SchedulerOrderError(
        `${at}: the parent is in the middle of its prefill; fork it after the step whose chunk ` +
          `completes its prompt (sample = true) and before update().`,
      );
    }
    this.kv.fork(parentId, childId);
    const child: Sequence = {
      ...parent,
      id: childId,
      birth: this.nextBirth++,
      tokens: parent.tokens.slice(),
    };
    this.live.set(childId, child);
    this.running.insert(child);
    if (inFlight) this.pending!.forks.push({ parent, child });
  }

  // ---- the step -----------------------------------------------------------------------------

  /**
   * Builds the next step: running decodes, running prefill chunks, swapped sequences returning,
   * then new admissions, within maxNumSeqs and maxNumBatchedTokens. Throws SchedulerOrderError
   * while the previous step's output, with chunks of sequences still live, awaits update().
   */
  schedule(): SchedulerOutput {
    this.checkNoPendingUpdate();
    const b: StepBuilder = {
      tokenBudget: this.options.maxNumBatchedTokens,
      seqBudget: this.options.maxNumSeqs,
      chunkOf: new Map(),
      copies: [],
      swapOut: [],
      swapIn: [],
      preempted: [],
    };
    this.scheduleDecodes(b);
    this.schedulePrefills(b);
    // vLLM: no admission in a step that had to preempt; the blocks just freed are for the decodes.
    if (b.preempted.length === 0) this.scheduleReturnsAndAdmissions(b);

    const decodes: ScheduledChunk[] = [];
    const prefills: ScheduledChunk[] = [];
    const entries: PendingStep['entries'] = new Map();
    let numDecodeTokens = 0;
    let numPrefillTokens = 0;
    for (const seq of this.running) {
      const chunk = b.chunkOf.get(seq);
      if (!chunk) continue;
      entries.set(seq.id, { seq, chunk });
      if (chunk.isPrefill) {
        prefills.push(chunk);
        numPrefillTokens += chunk.tokens.length;
      } else {
        decodes.push(chunk);
        numDecodeTokens += 1;
      }
    }
    const step = this.steps++;
    this.prefillTokens += numPrefillTokens;
    this.decodeTokens += numDecodeTokens;
    this.pending = { step, entries, forks: [] };
    const aborted = this.abortedSinceSchedule;
    this.abortedSinceSchedule = [];
    return {
      step,
      chunks: decodes.concat(prefills),
      numDecodeTokens,
      numPrefillTokens,
      copies: b.copies,
      swapOut: b.swapOut,
      swapIn: b.swapIn,
      preempted: b.preempted,
      aborted,
    };
  }

  /**
   * Records a step's results: advances every chunk's computed positions (publishing full prompt
   * blocks to the prefix cache) and appends the sampled token of every chunk with sample = true.
   * `sampled` maps sequence id to token id; a sequence finished or aborted since schedule() may be
   * left out and is skipped. The token's KV slot is taken at the next schedule(), as decode input.
   */
  update(output: SchedulerOutput, sampled: ReadonlyMap<string, number>): void {
    const sampling = this.updatable(output, 'update');
    // Check every needed token before changing anything, so a bad call leaves no half update.
    for (const s of sampling) if (s.chunk.sample) checkSampled(sampled, s.seq, 'update');
    for (const { seq, chunk } of sampling) this.advance(seq, chunk, chunk.sample ? sampled.get(seq.id)! : undefined);
    this.pending = null;
  }

  /**
   * update() for a step whose sampled tokens are still on the device: each stands as
   * PENDING_TOKEN, so the next schedule() can run before they are known. Call
   * resolvePending(output, sampled) once they are back, before the next update of either kind.
   */
  updatePending(output: SchedulerOutput): void {
    const sampling = this.updatable(output, 'updatePending');
    const slots = new Map<Sequence, number>();
    for (const { seq, chunk } of sampling) {
      this.advance(seq, chunk, chunk.sample ? PENDING_TOKEN : undefined);
      if (chunk.sample) slots.set(seq, seq.tokens.length - 1);
    }
    this.pending = null;
    this.deferred = { step: output.step, slots };
  }

  /**
   * Names the tokens of the step given to updatePending(): `sampled` as in update(). A sequence
   * finished or aborted since may be left out.
   */
  resolvePending(output: SchedulerOutput, sampled: ReadonlyMap<string, number>): void {
    const deferred = this.deferred;
    if (!deferred || deferred.step !== output.step) {
      throw new SchedulerOrderError(
        `resolvePending(): step ${output.step} has no pending tokens` +
          (deferred ? ` (step ${deferred.step} has)` : '') +
          '; pass the output given to updatePending(), once.',
      );
    }
    const live = [...deferred.slots].filter(([seq]) => this.live.get(seq.id) === seq);
    for (const [seq] of live) checkSampled(sampled, seq, 'resolvePending');
    for (const [seq, at] of live) {
      const token = sampled.get(seq.id)!;
      seq.tokens[at] = token;
      if (this.kv.has(seq.id) && this.kv.hasPendingToken(seq.id)) this.kv.resolvePendingToken(seq.id, token);
    }
    this.deferred = null;
  }

  /** The (sequence, chunk) pairs an update of `output` advances: live ones, and children forked from them. */
  private updatable(output: SchedulerOutput, op: string): { seq: Sequence; chunk: ScheduledChunk }[] {
    const pending = this.pending;
    if (!pending || pending.step !== output.step) {
      throw new SchedulerOrderError(
        `${op}(): step ${output.step} is not awaiting an update` +
          (pending ? ` (step ${pending.step} is)` : ' (no step is)') +
          '; pass the output of the latest schedule(), once.',
      );
    }
    if (this.deferred) {
      throw new SchedulerOrderError(
        `${op}(): step ${this.deferred.step}'s sampled tokens are still pending; call resolvePending() first.`,
      );
    }
    const sampling: { seq: Sequence; chunk: ScheduledChunk }[] = [];
    for (const { seq, chunk } of pending.entries.values()) {
      if (this.live.get(seq.id) === seq) sampling.push({ seq, chunk });
      for (const fork of pending.forks) {
        if (fork.parent === seq && this.live.get(fork.child.id) === fork.child) {
          sampling.push({ seq: fork.child, chunk });
        }
      }
    }
    return sampling;
  }

  /** Marks the chunk's positions computed and appends the sampled token (a sampling chunk). */
  private advance(seq: Sequence, chunk: ScheduledChunk, token: number | undefined): void {
    seq.numComputed = chunk.startPos + chunk.tokens.length;
    if (chunk.isPrefill) this.kv.markComputed(seq.id, seq.numComputed);
    if (token !== undefined) {
      seq.tokens.push(token);
      seq.phase = 'decode';
    }
  }

  // ---- inspection ---------------------------------------------------------------------------

  /** Prompt and generated tokens of a live sequence: the live list, which update() extends. */
  tokens(id: string): readonly number[] {
    return this.get(id, 'tokens').tokens;
  }

  numGenerated(id: string): number {
    return numGeneratedOf(this.get(id, 'numGenerated'));
  }

  /** Where a live sequence waits or runs. */
  status(id: string): SequenceStatus {
    return this.get(id, 'status').status;
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get numSwapped(): number {
    return this.swapped.length;
  }

  hasUnfinished(): boolean {
    return this.live.size > 0;
  }

  stats(): SchedulerStats {
    return {
      steps: this.steps,
      preemptions: this.recomputePreemptions + this.swapPreemptions,
      recomputePreemptions: this.recomputePreemptions,
      swapPreemptions: this.swapPreemptions,
      swapIns: this.swapIns,
      prefillTokens: this.prefillTokens,
      decodeTokens: this.decodeTokens,
      added: this.added,
      finished: this.finished,
      aborted: this.aborted,
      prefixCache: this.kv.prefixCacheStats(),
      kvUsage: this.kv.usage(),
    };
  }

  // ---- internals ----------------------------------------------------------------------------

  private get(id: string, op: string): Sequence {
    const seq = this.live.get(id);
    if (!seq) throw new UnknownRequestError(id, op);
    return seq;
  }

  private queueOf(seq: Sequence): OrderedQueue<Sequence> {
    return seq.status === 'running' ? this.running : seq.status === 'swapped' ? this.swapped : this.waiting;
  }

  private remove(seq: Sequence): void {
    this.queueOf(seq).remove(seq);
    if (this.kv.has(seq.id)) this.kv.free(seq.id);
    this.live.delete(seq.id);
  }

  private checkNoPendingUpdate(): void {
    const pending = this.pending;
    if (!pending) return;
    for (const { seq } of pending.entries.values()) {
      if (this.live.get(seq.id) === seq) {
        throw new SchedulerOrderError(
          `schedule(): step ${pending.step} still awaits update() (its chunk of ` +
            `${JSON.stringify(seq.id)} has not been reported); call update(output, sampled) first.`,
        );
      }
    }
    // Every sequence of that step was finished or aborted: nothing is left to update.
    this.pending = null;
  }

  /** Generated maxTokens tokens: runs no more, holding its blocks until the engine finishes it. */
  private isDone(seq: Sequence): boolean {
    return numGeneratedOf(seq) >= seq.maxTokens;
  }

  private scheduleDecodes(b: StepBuilder): void {
    const running = this.running;
    let i = 0;
    while (i < running.length && b.seqBudget > 0) {
      const seq = running.at(i)!;
      if (seq.phase !== 'decode' || this.isDone(seq)) {
        i++;
        continue;
      }
      if (!this.makeRoomToAppend(seq, i, b)) continue; // seq itself was preempted: i is the next one
      this.appendDecode(seq, b);
      i++;
    }
  }

  /**
   * Preempts from the end of the run order until `seq` (at running index `index`) can take its
   * next slot. Sequences before `index` keep their blocks: they precede `seq` in the policy's
   * order, and the decodes among them already hold this step's slots. Returns false when `seq`
   * itself had to go.
   */
  private makeRoomToAppend(seq: Sequence, index: number, b: StepBuilder): boolean {
    while (!this.kv.canAppend(seq.id)) {
      let v = this.running.length - 1;
      // A sequence at maxTokens is not preempted: recomputing it would sample past maxTokens.
      while (v > index && this.isDone(this.running.at(v)!)) v--;
      const victim = this.running.at(v)!;
      this.preempt(victim, b);
      if (victim === seq) return false;
    }
    return true;
  }

  private preempt(seq: Sequence, b: StepBuilder): void {
    this.running.remove(seq);
    b.preempted.push(seq.id);
    if (this.options.preemptionMode === 'swap' && this.kv.canSwapOut([seq.id])) {
      const plan = this.kv.swapOut([seq.id]);
      for (const c of plan.copies) b.swapOut.push(c);
      seq.status = 'swapped';
      this.swapped.insert(seq);
      this.swapPreemptions++;
      return;
    }
    // Recompute (also the fallback when the host pool is full): the K/V is dropped and rebuilt
    // later from every token so far; the prefix cache keeps the computed blocks while it can.
    this.kv.free(seq.id);
    seq.status = 'waiting';
    seq.phase = 'prefill';
    seq.numComputed = 0;
    seq.prefillEnd = 0;
    seq.preempted = true;
    this.waiting.insert(seq);
    this.recomputePreemptions++;
  }

  private appendDecode(seq: Sequence, b: StepBuilder): void {
    const token = seq.tokens[seq.tokens.length - 1]!;
    this.kv.appendToken(seq.id, token, b.copies);
    b.chunkOf.set(seq, {
      id: seq.id,
      tokens: [token],
      startPos: seq.numComputed,
      blockTable: this.kv.blockTable(seq.id).slice(),
      isPrefill: false,
      sample: true,
      ...(token === PENDING_TOKEN ? { pendingToken: true as const } : {}),
    });
    b.tokenBudget -= 1;
    b.seqBudget -= 1;
  }

  private schedulePrefills(b: StepBuilder): void {
    for (const seq of this.running) {
      if (b.seqBudget === 0 || b.tokenBudget === 0) return;
      if (seq.phase === 'prefill') this.addPrefillChunk(seq, b);
    }
  }

  /** The sequence's next prompt (or recompute) chunk, as large as the budgets allow. */
  private addPrefillChunk(seq: Sequence, b: StepBuilder): void {
    const start = seq.numComputed;
    const n = Math.min(seq.prefillEnd - start, b.tokenBudget, this.maxChunk);
    const end = start + n;
    b.chunkOf.set(seq, {
      id: seq.id,
      tokens: seq.tokens.slice(start, end),
      startPos: start,
      blockTable: this.kv.blockTable(seq.id).slice(0, Math.ceil(end / this.kv.blockSize)),
      isPrefill: true,
      sample: end === seq.prefillEnd,
    });
    b.tokenBudget -= n;
    b.seqBudget -= 1;
  }

  /**
   * Brings sequences back and admits new ones, in the policy's order and head-of-line: the first
   * that does not fit stops the rest, so nothing overtakes it. Swapped sequences return before
   * new requests; a sequence preempted by recompute competes with them in run order.
   */
  private scheduleReturnsAndAdmissions(b: StepBuilder): void {
    while (b.seqBudget > 0 && b.tokenBudget > 0 && this.running.length < this.options.maxNumSeqs) {
      const sw = this.swapped.first();
      const wt = this.waiting.first();
      const takeWaiting = wt !== undefined && (sw === undefined || (wt.preempted && this.order(wt, sw) < 0));
      // A prefill cannot carry a token nobody knows yet: it waits for resolvePending().
      if (takeWaiting && this.deferred?.slots.has(wt)) return;
      if (takeWaiting ? !this.admit(wt, b) : sw === undefined || !this.returnSwapped(sw, b)) return;
    }
  }

  /** Allocates the sequence's whole token list (prefix hits included) if the watermark allows. */
  private admit(seq: Sequence, b: StepBuilder): boolean {
    const cacheKey = seq.cacheKey === undefined ? {} : { cacheKey: seq.cacheKey };
    if (this.kv.canAllocate(seq.tokens, { ...cacheKey, reserveBlocks: this.watermarkBlocks }) !== 'ok') {
      return false;
    }
    const { numCachedTokens } = this.kv.allocate(seq.id, seq.tokens, cacheKey);
    this.waiting.remove(seq);
    seq.status = 'running';
    seq.phase = 'prefill';
    seq.numComputed = numCachedTokens;
    seq.prefillEnd = seq.tokens.length;
    this.running.insert(seq);
    this.addPrefillChunk(seq, b);
    return true;
  }

  /** Swaps a sequence back in if its blocks (and its next decode slot) fit above the watermark. */
  private returnSwapped(seq: Sequence, b: StepBuilder): boolean {
    const kvTokens = this.kv.numTokens(seq.id) + (seq.phase === 'decode' ? 1 : 0);
    const needed = Math.ceil(kvTokens / this.kv.blockSize);
    if (this.kv.usage().availableBlocks - needed < this.watermarkBlocks) return false;
    const plan = this.kv.swapIn([seq.id]);
    for (const c of plan.copies) b.swapIn.push(c);
    this.swapped.remove(seq);
    seq.status = 'running';
    this.running.insert(seq);
    this.swapIns++;
    if (seq.phase === 'prefill') this.addPrefillChunk(seq, b);
    else if (!this.isDone(seq)) this.appendDecode(seq, b);
    return true;
  }
}

function checkSampled(sampled: ReadonlyMap<string, number>, seq: Sequence, op: string): void {
  const t = sampled.get(seq.id);
  if (t !== undefined && Number.isInteger(t) && t >= 0 && t <= 0x7fffffff) return;
  throw new SchedulerOrderError(
    `${op}(): ${t === undefined ? 'no sampled token' : `sampled token ${t} is not an integer in 0..2^31-1`} ` +
      `for ${JSON.stringify(seq.id)}, whose chunk samples (sample = true); pass it in \`sampled\`, ` +
      `or finish() / abort() the sequence first.`,
  );
}
