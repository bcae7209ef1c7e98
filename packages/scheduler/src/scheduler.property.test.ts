import { KvCacheManager, PENDING_TOKEN } from '@llm/kvcache';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestTooLongError, Scheduler, type SchedulerOptions, type SchedulerOutput } from './index.js';
import { SimulatedEngine, referenceNextToken } from './testing/index.js';

/**
 * Random workloads driven through the Scheduler and a SimulatedEngine (a "model" whose K/V of a
 * position mixes every token before it and whose next token hashes the whole context read back
 * through the block table). Every step is checked against the budgets and the pool's invariants;
 * every generated token against the model applied to the tokens before it; and every request's
 * finishing step against the starvation bound of the README.
 */

const VOCAB = 50;

interface RequestSpec {
  readonly family: number;
  readonly prefixLen: number;
  readonly suffix: readonly number[];
  readonly maxTokens: number;
  readonly priority: number;
  readonly arrivalStep: number;
  readonly cacheKey: string | undefined;
}

interface Workload {
  readonly blockSize: number;
  readonly extraBlocks: number;
  readonly numHostBlocks: number;
  readonly enablePrefixCaching: boolean;
  readonly options: SchedulerOptions;
  readonly requests: readonly RequestSpec[];
  /** The model ends a sequence when it samples a token divisible by this (0: never). */
  readonly eosEvery: number;
  /** [step, request index]: abort that request (if live) after the step's forward pass. */
  readonly aborts: readonly (readonly [number, number])[];
  /**
   * Each step is scheduled before the previous one's tokens are known (updatePending, then
   * resolvePending once the step has run), as an engine that overlaps steps drives it.
   */
  readonly pipelined: boolean;
}

// A few shared prefixes over a tiny vocabulary, so prefix-cache hits are common.
const FAMILIES = [0, 1, 2].map((f) => Array.from({ length: 16 }, (_, i) => (f * 17 + i * 7) % VOCAB));

function promptOf(r: RequestSpec): number[] {
  return [...FAMILIES[r.family]!.slice(0, r.prefixLen), ...r.suffix];
}

const requestArb = (maxArrival: number): fc.Arbitrary<RequestSpec> =>
  fc
    .record({
      family: fc.nat(2),
      prefixLen: fc.nat(16),
      suffix: fc.array(fc.nat(VOCAB - 1), { maxLength: 8 }),
      maxTokens: fc.integer({ min: 1, max: 12 }),
      priority: fc.nat(2),
      arrivalStep: fc.nat(maxArrival),
      cacheKey: fc.option(fc.constantFrom('x', 'y'), { nil: undefined }),
    })
    .filter((r) => r.prefixLen + r.suffix.length > 0);

const workloadArb: fc.Arbitrary<Workload> = fc
  .record({
    policy: fc.constantFrom('fcfs' as const, 'priority' as const),
    preemptionMode: fc.constantFrom('recompute' as const, 'swap' as const),
    maxNumSeqs: fc.integer({ min: 1, max: 6 }),
    extraTokens: fc.nat(24),
    maxPrefillChunkTokens: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
    watermark: fc.constantFrom(0, 0.05, 0.2),
    blockSize: fc.integer({ min: 1, max: 4 }),
    extraBlocks: fc.nat(6),
    numHostBlocks: fc.integer({ min: 1, max: 24 }),
    enablePrefixCaching: fc.boolean(),
    eosEvery: fc.constantFrom(0, 0, 7, 13),
    aborts: fc.array(fc.tuple(fc.nat(40), fc.nat(7)), { maxLength: 3 }),
    pipelined: fc.boolean(),
  })
  .chain((c) =>
    // 'priority' requests all arrive before the first step: the bound is stated for that case.
    fc.array(requestArb(c.policy === 'fcfs' ? 12 : 0), { minLength: 1, maxLength: 8 }).map((requests) => ({
      blockSize: c.blockSize,
      extraBlocks: c.extraBlocks,
      numHostBlocks: c.numHostBlocks,
      enablePrefixCaching: c.enablePrefixCaching,
      eosEvery: c.eosEvery,
      aborts: c.aborts,
      pipelined: c.pipelined,
      requests,
      options: {
        policy: c.policy,
        preemptionMode: c.preemptionMode,
        maxNumSeqs: c.maxNumSeqs,
        maxNumBatchedTokens: c.maxNumSeqs + c.extraTokens,
        watermark: c.watermark,
        ...(c.maxPrefillChunkTokens === undefined ? {} : { maxPrefillChunkTokens: c.maxPrefillChunkTokens }),
      },
    })),
  );

interface RunResult {
  /** Tokens of each request when it finished or was aborted; absent if add() refused it. */
  readonly tokens: Map<number, number[]>;
  readonly aborted: Set<number>;
  /** schedule() calls while the request was live. */
  readonly liveSteps: Map<number, number>;
  readonly preemptions: number;
}

/** Whether `a` is served before `b` under the policy (requests sort by their add() order). */
function precedes(w: Workload, order: readonly number[], a: number, b: number): boolean {
  const ra = w.requests[a]!;
  const rb = w.requests[b]!;
  if (w.options.policy === 'priority' && ra.priority !== rb.priority) return ra.priority < rb.priority;
  return order.indexOf(a) <= order.indexOf(b);
}

/** Blocks a request needs to run alone: prompt + maxTokens. */
function neededBlocks(w: Workload, r: RequestSpec): number {
  return Math.ceil((promptOf(r).length + r.maxTokens) / w.blockSize);
}

function run(w: Workload, numBlocks: number, options: SchedulerOptions, withAborts: boolean): RunResult {
  const kv = new KvCacheManager({
    numBlocks,
    blockSize: w.blockSize,
    numHostBlocks: w.numHostBlocks,
    enablePrefixCaching: w.enablePrefixCaching,
  });
  const s = new Scheduler(kv, options);
  const engine = new SimulatedEngine(kv, { vocabSize: VOCAB });
  const bs = w.blockSize;
  const byArrival = w.requests
    .map((_, i) => i)
    .sort((a, b) => w.requests[a]!.arrivalStep - w.requests[b]!.arrivalStep);
  const tokens = new Map<number, number[]>();
  const aborted = new Set<number>();
  const liveSteps = new Map<number, number>();
  const liveIds = new Set<number>();
  const idOf = (i: number) => `r${i}`;
  const indexOf = (id: string) => Number(id.slice(1));
  let nextArrival = 0;
  const usableBlocks = numBlocks - Math.floor((options.watermark ?? 0.01) * numBlocks);
  const accepted: number[] = [];

  /** `last`: the pending last token of a sequence finished before resolvePending() names it. */
  const end = (i: number, how: 'finish' | 'abort', last?: number): void => {
    const t = s.tokens(idOf(i)).slice();
    // Aborted while its last token is still pending: what it has is the tokens before that one.
    if (t.at(-1) === PENDING_TOKEN) {
      if (last === undefined) t.pop();
      else t[t.length - 1] = last;
    }
    tokens.set(i, t);
    if (how === 'finish') s.finish(idOf(i));
    else {
      expect(s.abort(idOf(i))).toBe(true);
      aborted.add(i);
    }
    liveIds.delete(i);
  };

  // Generous: the bound below is checked per request; this only stops a runaway loop.
  const totalWork = w.requests.reduce((sum, r) => sum + promptOf(r).length + r.maxTokens, 0);
  const maxArrival = Math.max(...w.requests.map((r) => r.arrivalStep));
  // Pipelined: the previous step, whose tokens the scheduler has not been told yet.
  let previous: { out: SchedulerOutput; sampled: Map<string, number> } | undefined;
  // A sequence at maxTokens is finished as soon as its last token is scheduled for, known or not
  // (its blocks are not held a step longer); one ending on EOS once its token is known.
  const finishDone = (out: SchedulerOutput, sampled: ReadonlyMap<string, number>, eos: boolean): void => {
    for (const c of out.chunks) {
      const i = indexOf(c.id);
      if (!c.sample || !liveIds.has(i)) continue;
      const last = s.tokens(c.id).at(-1)!;
      if (s.numGenerated(c.id) >= w.requests[i]!.maxTokens) end(i, 'finish', sampled.get(c.id));
      else if (eos && w.eosEvery > 0 && last % w.eosEvery === 0) end(i, 'finish');
    }
  };
  for (let step = 0; nextArrival < byArrival.length || s.hasUnfinished() || previous; step++) {
    expect(step).toBeLessThanOrEqual(maxArrival + totalWork + 1);
    while (nextArrival < byArrival.length && w.requests[byArrival[nextArrival]!]!.arrivalStep <= step) {
      const i = byArrival[nextArrival++]!;
      const r = w.requests[i]!;
      const request = {
        id: idOf(i),
        promptIds: promptOf(r),
        maxTokens: r.maxTokens,
        priority: r.priority,
        ...(r.cacheKey === undefined ? {} : { cacheKey: r.cacheKey }),
      };
      if (neededBlocks(w, r) > usableBlocks) {
        expect(() => s.add(request)).toThrow(RequestTooLongError);
        continue;
      }
      s.add(request);
      liveIds.add(i);
      liveSteps.set(i, 0);
      accepted.push(i);
    }

    const out: SchedulerOutput = s.schedule();
    for (const i of liveIds) liveSteps.set(i, liveSteps.get(i)! + 1);
    kv.checkInvariants();
    // Budgets.
    expect(out.chunks.length).toBeLessThanOrEqual(options.maxNumSeqs);
    const numTokens = out.chunks.reduce((sum, c) => sum + c.tokens.length, 0);
    expect(numTokens).toBeLessThanOrEqual(options.maxNumBatchedTokens);
    expect(out.numDecodeTokens + out.numPrefillTokens).toBe(numTokens);
    if (options.maxPrefillChunkTokens !== undefined) {
      for (const c of out.chunks) expect(c.tokens.length).toBeLessThanOrEqual(options.maxPrefillChunkTokens);
    }
    // Decodes first, each sequence at most once, every table exactly covering its chunk.
    const firstPrefill = out.chunks.findIndex((c) => c.isPrefill);
    if (firstPrefill >= 0) expect(out.chunks.slice(firstPrefill).every((c) => c.isPrefill)).toBe(true);
    expect(new Set(out.chunks.map((c) => c.id)).size).toBe(out.chunks.length);
    for (const c of out.chunks) {
      expect(c.tokens.length).toBeGreaterThan(0);
      expect(c.blockTable.length).toBe(Math.ceil((c.startPos + c.tokens.length) / bs));
      expect(c.blockTable).toEqual(kv.blockTable(c.id).slice(0, c.blockTable.length));
      if (!c.isPrefill) expect(c.tokens).toEqual([s.tokens(c.id).at(-1)]);
      expect(c.pendingToken === true).toBe(!c.isPrefill && c.tokens[0] === PENDING_TOKEN);
      if (c.pendingToken) expect(w.pipelined).toBe(true);
    }
    expect(kv.usage().numSequences).toBe(s.numRunning + s.numSwapped);
    expect(s.numRunning).toBeLessThanOrEqual(options.maxNumSeqs);

    const sampled = engine.run(out);
    if (withAborts) {
      for (const [atStep, k] of w.aborts) {
        const i = accepted[k % Math.max(1, accepted.length)];
        if (atStep === step && i !== undefined && liveIds.has(i)) end(i, 'abort');
      }
    }
    if (w.pipelined) {
      // This step was scheduled before the previous one's tokens were known: they arrive now.
      if (previous) {
        s.resolvePending(previous.out, previous.sampled);
        finishDone(previous.out, previous.sampled, true);
      }
      s.updatePending(out);
      finishDone(out, sampled, false);
      previous = { out, sampled };
    } else {
      s.update(out, sampled);
      finishDone(out, sampled, true);
    }
    kv.checkInvariants();
    if (previous && !s.hasUnfinished() && nextArrival === byArrival.length) {
      s.resolvePending(previous.out, previous.sampled);
      previous = undefined;
    }
  }
  expect(kv.usage()).toMatchObject({ usedBlocks: 0, hostUsedBlocks: 0, numSequences: 0 });
  kv.checkInvariants();
  return { tokens, aborted, liveSteps, preemptions: s.stats().preemptions };
}

/** Every generated token is the model's next token after the tokens before it. */
function expectModelTokens(w: Workload, result: RunResult): void {
  for (const [i, tokens] of result.tokens) {
    const promptLength = promptOf(w.requests[i]!).length;
    for (let p = promptLength; p < tokens.length; p++) {
      expect(tokens[p]).toBe(referenceNextToken(tokens.slice(0, p), VOCAB));
    }
  }
}

describe('Scheduler: random workloads', () => {
  it('respects the budgets, leaks no block and reproduces every sequence under preemption', () => {
    let preempting = 0;
    fc.assert(
      fc.property(workloadArb, (w) => {
        const minBlocks = Math.max(...w.requests.map((r) => neededBlocks(w, r)));
        const tight = run(w, minBlocks + w.extraBlocks, w.options, true);
        if (tight.preemptions > 0) preempting++;
        expectModelTokens(w, tight);

        // Unconstrained: every request admitted at once, never preempted.
        const total = w.requests.reduce((sum, r) => sum + neededBlocks(w, r), 0);
        const roomy = run(
          w,
          total + 1,
          { ...w.options, maxNumSeqs: w.requests.length, maxNumBatchedTokens: 1000, watermark: 0 },
          false,
        );
        expect(roomy.preemptions).toBe(0);
        for (const [i, tokens] of tight.tokens) {
          const reference = roomy.tokens.get(i)!;
          if (tight.aborted.has(i)) expect(reference.slice(0, tokens.length)).toEqual(tokens);
          else expect(tokens).toEqual(reference);
        }

        // Starvation bound: a request is live for at most the sum, over the requests served no
        // later than it (policy order), of prompt + maxTokens - 1 steps; pipelined, each of them
        // is seen to finish one step later (its last token arrives after the next step is built).
        const order = w.requests
          .map((_, i) => i)
          .sort((a, b) => w.requests[a]!.arrivalStep - w.requests[b]!.arrivalStep || a - b);
        for (const [i, steps] of tight.liveSteps) {
          let bound = 0;
          for (const j of tight.liveSteps.keys()) {
            if (precedes(w, order, j, i))
              bound += promptOf(w.requests[j]!).length + w.requests[j]!.maxTokens - (w.pipelined ? 0 : 1);
          }
          expect(steps).toBeLessThanOrEqual(bound);
        }
      }),
      { numRuns: 300 },
    );
    // The tight pools must actually exercise preemption.
    expect(preempting).toBeGreaterThan(20);
  });

  it('keeps forked children exact and leak-free', () => {
    fc.assert(
      fc.property(
        workloadArb,
        fc.array(fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 3 })), { maxLength: 4 }),
        (w, forks) => {
          const minBlocks = Math.max(...w.requests.map((r) => neededBlocks(w, r)));
          const kv = new KvCacheManager({
            numBlocks: minBlocks + w.extraBlocks,
            blockSize: w.blockSize,
            numHostBlocks: w.numHostBlocks,
            enablePrefixCaching: w.enablePrefixCaching,
          });
          const s = new Scheduler(kv, w.options);
          const engine = new SimulatedEngine(kv, { vocabSize: VOCAB });
          const usable = kv.numBlocks - Math.floor((w.options.watermark ?? 0.01) * kv.numBlocks);
          const maxTokens = new Map<string, number>();
          w.requests.forEach((r, i) => {
            if (neededBlocks(w, r) > usable) return;
            s.add({ id: `r${i}`, promptIds: promptOf(r), maxTokens: r.maxTokens, priority: r.priority });
            maxTokens.set(`r${i}`, r.maxTokens);
          });
          const firstSample = new Map<string, number>();
          let steps = 0;
          while (s.hasUnfinished()) {
            expect(++steps).toBeLessThan(2000);
            const out = s.schedule();
            const sampled = engine.run(out);
            for (const c of out.chunks) {
              const fork =
                c.isPrefill && c.sample && !c.id.includes('/')
                  ? forks.find(([k]) => `r${k}` === c.id)
                  : undefined;
              if (!fork || s.numGenerated(c.id) > 0) continue;
              for (let n = 0; n < fork[1]; n++) {
                const child = `${c.id}/${n}`;
                if (s.has(child) || firstSample.has(child)) continue;
                s.fork(c.id, child);
                // The child's own sample from the same logits: a different token than the parent's.
                const t = (sampled.get(c.id)! + n + 1) % VOCAB;
                sampled.set(child, t);
                firstSample.set(child, t);
                maxTokens.set(child, maxTokens.get(c.id)!);
              }
            }
            s.update(out, sampled);
            kv.checkInvariants();
            expect(out.chunks.length).toBeLessThanOrEqual(w.options.maxNumSeqs);
            for (const c of out.chunks) {
              if (!c.sample || !s.has(c.id)) continue;
              if (s.numGenerated(c.id) >= maxTokens.get(c.id)!) {
                const t = s.tokens(c.id);
                const parent = c.id.split('/')[0]!;
                const promptLength = promptOf(w.requests[Number(parent.slice(1))]!).length;
                // A child's first token is its own sample; every later one comes from the model.
                const from = firstSample.has(c.id) ? promptLength + 1 : promptLength;
                if (firstSample.has(c.id)) expect(t[promptLength]).toBe(firstSample.get(c.id));
                for (let p = from; p < t.length; p++)
                  expect(t[p]).toBe(referenceNextToken(t.slice(0, p), VOCAB));
                s.finish(c.id);
              }
            }
            for (const id of [...firstSample.keys()]) {
              // Children forked in this step finish like the others once they are done.
              if (
                s.has(id) &&
                s.numGenerated(id) >= maxTokens.get(id)! &&
                !out.chunks.some((c) => c.id === id)
              )
                s.finish(id);
            }
          }
          expect(kv.usage()).toMatchObject({ usedBlocks: 0, hostUsedBlocks: 0, numSequences: 0 });
        },
      ),
      { numRuns: 150 },
    );
  });
});
