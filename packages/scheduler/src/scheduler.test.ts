import { KvCacheManager, PENDING_TOKEN } from '@llm/kvcache';
import { describe, expect, it } from 'vitest';
import {
  DuplicateRequestError,
  InvalidRequestError,
  RequestTooLongError,
  Scheduler,
  SchedulerError,
  SchedulerOptionsError,
  SchedulerOrderError,
  UnknownRequestError,
  type SchedulerOptions,
  type SchedulerOutput,
} from './index.js';
import { SimulatedEngine, referenceNextToken } from './testing/index.js';

/** Distinct token ids: [start, start + n). */
function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

function setup(
  kvOptions: ConstructorParameters<typeof KvCacheManager>[0],
  options: Partial<SchedulerOptions> = {},
) {
  const kv = new KvCacheManager(kvOptions);
  const s = new Scheduler(kv, { maxNumSeqs: 8, maxNumBatchedTokens: 64, watermark: 0, ...options });
  const engine = new SimulatedEngine(kv, { vocabSize: 1000 });
  /** One step through the simulated model; returns the output. */
  const step = (): SchedulerOutput => {
    const out = s.schedule();
    s.update(out, engine.run(out));
    kv.checkInvariants();
    return out;
  };
  return { kv, s, engine, step };
}

const summary = (out: SchedulerOutput) =>
  out.chunks.map((c) => [c.id, c.isPrefill ? 'prefill' : 'decode', c.startPos, c.tokens.length, c.sample]);

describe('Scheduler: options and requests', () => {
  it('refuses options that cannot work, saying what to change', () => {
    const kv = new KvCacheManager({ numBlocks: 8 });
    expect(() => new Scheduler(kv, { maxNumSeqs: 8, maxNumBatchedTokens: 4 })).toThrow(
      /maxNumBatchedTokens must be at least maxNumSeqs/,
    );
    expect(() => new Scheduler(kv, { maxNumSeqs: 0, maxNumBatchedTokens: 4 })).toThrow(SchedulerOptionsError);
    expect(() => new Scheduler(kv, { maxNumSeqs: 1, maxNumBatchedTokens: 4, watermark: 1 })).toThrow(
      /watermark/,
    );
    expect(
      () => new Scheduler(kv, { maxNumSeqs: 1, maxNumBatchedTokens: 4, preemptionMode: 'swap' }),
    ).toThrow(/numHostBlocks > 0/);
    expect(
      () => new Scheduler(kv, { maxNumSeqs: 1, maxNumBatchedTokens: 4, policy: 'lifo' as never }),
    ).toThrow(SchedulerError);
  });

  it('refuses empty prompts, bad maxTokens, duplicate ids and requests that can never fit', () => {
    // 10 blocks of 4 tokens, watermark 0.1: 9 usable blocks = 36 tokens.
    const { s } = setup({ numBlocks: 10, blockSize: 4 }, { watermark: 0.1 });
    expect(() => s.add({ id: 'a', promptIds: [], maxTokens: 4 })).toThrow(/prompt is empty/);
    expect(() => s.add({ id: 'a', promptIds: [1], maxTokens: 0 })).toThrow(InvalidRequestError);
    expect(() => s.add({ id: 'a', promptIds: [1.5], maxTokens: 1 })).toThrow(InvalidRequestError);
    s.add({ id: 'a', promptIds: range(1, 30), maxTokens: 6 });
    expect(() => s.add({ id: 'a', promptIds: [1], maxTokens: 1 })).toThrow(DuplicateRequestError);
    const tooLong = () => s.add({ id: 'b', promptIds: range(1, 30), maxTokens: 7 });
    expect(tooLong).toThrow(RequestTooLongError);
    expect(tooLong).toThrow(/lower maxTokens to at most 6/);
    expect(() => s.add({ id: 'c', promptIds: range(1, 40), maxTokens: 1 })).toThrow(
      /shorten the prompt to under 36 tokens/,
    );
    expect(s.numWaiting).toBe(1);
  });

  it('names the unknown id for finish, tokens and fork, and abort answers false', () => {
    const { s } = setup({ numBlocks: 8, blockSize: 4 });
    expect(() => s.finish('x')).toThrow(UnknownRequestError);
    expect(() => s.tokens('x')).toThrow(/no live request "x"/);
    expect(() => s.fork('x', 'y')).toThrow(UnknownRequestError);
    expect(s.abort('x')).toBe(false);
  });
});

describe('Scheduler: chunked prefill and budgets', () => {
  it('chunks a prompt longer than the token budget across steps, sampling at its last chunk', () => {
    const { s, step } = setup({ numBlocks: 16, blockSize: 4 }, { maxNumSeqs: 2, maxNumBatchedTokens: 4 });
    s.add({ id: 'a', promptIds: range(1, 10), maxTokens: 3 });
    const outs = [step(), step(), step()];
    expect(outs.map(summary)).toEqual([
      [['a', 'prefill', 0, 4, false]],
      [['a', 'prefill', 4, 4, false]],
      [['a', 'prefill', 8, 2, true]],
    ]);
    // Each chunk's table covers exactly its positions.
    expect(outs.map((o) => o.chunks[0]!.blockTable.length)).toEqual([1, 2, 3]);
    expect(s.numGenerated('a')).toBe(1);
    expect(s.tokens('a')).toEqual([...range(1, 10), referenceNextToken(range(1, 10), 1000)]);
    expect(summary(step())).toEqual([['a', 'decode', 10, 1, true]]);
  });

  it('caps each prefill chunk at maxPrefillChunkTokens', () => {
    const { s, step } = setup({ numBlocks: 16, blockSize: 4 }, { maxPrefillChunkTokens: 3 });
    s.add({ id: 'a', promptIds: range(1, 7), maxTokens: 1 });
    s.add({ id: 'b', promptIds: range(50, 2), maxTokens: 1 });
    expect(summary(step())).toEqual([
      ['a', 'prefill', 0, 3, false],
      ['b', 'prefill', 0, 2, true],
    ]);
  });

  it('runs every decode before prefill chunks, which get what is left of the budget', () => {
    const { s, step } = setup({ numBlocks: 32, blockSize: 4 }, { maxNumSeqs: 4, maxNumBatchedTokens: 6 });
    s.add({ id: 'a', promptIds: range(1, 3), maxTokens: 10 });
    s.add({ id: 'b', promptIds: range(10, 2), maxTokens: 10 });
    step(); // a: 3 tokens, b: 2 tokens, both sample
    s.add({ id: 'c', promptIds: range(20, 20), maxTokens: 2 });
    const out = step();
    expect(summary(out)).toEqual([
      ['a', 'decode', 3, 1, true],
      ['b', 'decode', 2, 1, true],
      ['c', 'prefill', 0, 4, false],
    ]);
    expect(out.numDecodeTokens).toBe(2);
    expect(out.numPrefillTokens).toBe(4);
    // The long prompt never stalls the decodes: they run every step while c is chunked.
    for (let i = 0; i < 4; i++) {
      const o = step();
      expect(o.chunks.slice(0, 2).map((c) => [c.id, c.isPrefill])).toEqual([
        ['a', false],
        ['b', false],
      ]);
      expect(o.numDecodeTokens + o.numPrefillTokens).toBeLessThanOrEqual(6);
    }
  });

  it('admits no more than maxNumSeqs sequences', () => {
    const { s, step } = setup({ numBlocks: 32, blockSize: 4 }, { maxNumSeqs: 2, maxNumBatchedTokens: 64 });
    for (const id of ['a', 'b', 'c']) s.add({ id, promptIds: [1, 2, 3], maxTokens: 5 });
    expect(summary(step()).map((c) => c[0])).toEqual(['a', 'b']);
    expect([s.numRunning, s.numWaiting]).toEqual([2, 1]);
    s.finish('a');
    expect(summary(step()).map((c) => [c[0], c[1]])).toEqual([
      ['b', 'decode'],
      ['c', 'prefill'],
    ]);
  });
});

describe('Scheduler: admission', () => {
  it('skips the cached prefix: the first chunk starts at numCachedTokens', () => {
    const { s, step, kv } = setup({ numBlocks: 16, blockSize: 4 });
    const system = range(100, 8);
    s.add({ id: 'a', promptIds: [...system, 1, 2], maxTokens: 2 });
    step();
    s.add({ id: 'b', promptIds: [...system, 3], maxTokens: 2 });
    expect(summary(step())).toEqual([
      ['a', 'decode', 10, 1, true],
      ['b', 'prefill', 8, 1, true],
    ]);
    expect(s.stats().prefixCache.hitTokens).toBe(8);
    // A prompt that is cached whole still runs its last token, to sample from it.
    s.add({ id: 'c', promptIds: system, maxTokens: 2 });
    const out = step();
    expect(summary(out).at(-1)).toEqual(['c', 'prefill', 4, 4, true]);
    expect(kv.checkInvariants()).toBeUndefined();
  });

  it('keeps watermark blocks free when admitting', () => {
    // 10 blocks, watermark 0.2: admission leaves 2 blocks free.
    const { s, step, kv } = setup({ numBlocks: 10, blockSize: 4 }, { watermark: 0.2 });
    s.add({ id: 'a', promptIds: range(1, 20), maxTokens: 4 }); // 5 blocks
    s.add({ id: 'b', promptIds: range(30, 16), maxTokens: 4 }); // 4 blocks: 5 + 4 > 10 - 2
    expect(summary(step()).map((c) => c[0])).toEqual(['a']);
    expect(kv.usage().usedBlocks).toBe(5);
    s.finish('a');
    expect(summary(step()).map((c) => c[0])).toEqual(['b']);
  });

  it("blocks later requests behind a waiting head that does not fit under 'fcfs'", () => {
    const { s, step } = setup({ numBlocks: 8, blockSize: 4 });
    s.add({ id: 'big0', promptIds: range(1, 16), maxTokens: 4 }); // 4 blocks
    step();
    s.add({ id: 'big1', promptIds: range(100, 20), maxTokens: 4 }); // 5 blocks: waits
    s.add({ id: 'small', promptIds: [7], maxTokens: 1 }); // would fit, but may not overtake
    expect(summary(step()).map((c) => c[0])).toEqual(['big0']);
    expect(s.numWaiting).toBe(2);
    s.finish('big0');
    expect(summary(step()).map((c) => c[0])).toEqual(['big1', 'small']);
  });

  it("admits by (priority, arrival) under 'priority', lower values first", () => {
    const { s, step } = setup({ numBlocks: 32, blockSize: 4 }, { policy: 'priority', maxNumSeqs: 4 });
    s.add({ id: 'late-low', promptIds: [1], maxTokens: 3, priority: 5 });
    s.add({ id: 'urgent', promptIds: [2], maxTokens: 3, priority: -1 });
    s.add({ id: 'normal-1', promptIds: [3], maxTokens: 3 });
    s.add({ id: 'normal-2', promptIds: [4], maxTokens: 3 });
    expect(summary(step()).map((c) => c[0])).toEqual(['urgent', 'normal-1', 'normal-2', 'late-low']);
    // Run order follows the same key, so decodes come in it too.
    expect(summary(step()).map((c) => c[0])).toEqual(['urgent', 'normal-1', 'normal-2', 'late-low']);
  });

  it("admits in priority order, head-of-line, when the pool is short under 'priority'", () => {
    const { s, step } = setup({ numBlocks: 6, blockSize: 4 }, { policy: 'priority' });
    s.add({ id: 'bulk', promptIds: range(1, 12), maxTokens: 4, priority: 1 }); // 3 blocks
    s.add({ id: 'first', promptIds: range(50, 12), maxTokens: 4, priority: 0 }); // 3 blocks
    s.add({ id: 'second', promptIds: [9], maxTokens: 1, priority: 0 }); // 1 block
    s.add({ id: 'tiny', promptIds: [8], maxTokens: 1, priority: 2 }); // fits, but after bulk
    expect(summary(step()).map((c) => c[0])).toEqual(['first', 'second']);
    expect([s.status('bulk'), s.status('tiny')]).toEqual(['waiting', 'waiting']);
  });
});

describe('Scheduler: preemption', () => {
  /** Two sequences whose decodes outgrow a 6-block pool. */
  function crowded(options: Partial<SchedulerOptions>, numHostBlocks = 0) {
    const ctx = setup({ numBlocks: 6, blockSize: 2, numHostBlocks }, { maxNumSeqs: 2, ...options });
    ctx.s.add({ id: 'old', promptIds: range(1, 4), maxTokens: 6 }); // 2 blocks, up to 5
    ctx.s.add({ id: 'new', promptIds: range(10, 4), maxTokens: 6 });
    return ctx;
  }

  it('preempts the latest-arrived running sequence by recompute and resumes it exactly', () => {
    const { s, step, kv } = crowded({});
    const outs: SchedulerOutput[] = [];
    while (!outs.some((o) => o.preempted.length > 0)) outs.push(step());
    const out = outs.at(-1)!;
    expect(out.preempted).toEqual(['new']);
    expect(s.status('new')).toBe('waiting');
    expect(out.swapOut).toEqual([]);
    expect(s.stats()).toMatchObject({ preemptions: 1, recomputePreemptions: 1, swapPreemptions: 0 });
    const generated = s.numGenerated('new');
    expect(generated).toBeGreaterThan(0);
    // 'old' goes on alone; once it is done, 'new' recomputes prompt + generated tokens at once.
    while (s.numGenerated('old') < 6) step();
    s.finish('old');
    const recompute = step();
    expect(summary(recompute)).toEqual([
      ['new', 'prefill', expect.any(Number), 4 + generated - recompute.chunks[0]!.startPos, true],
    ]);
    while (s.numGenerated('new') < 6) step();
    // Every token is the one the model computes from the tokens before it.
    const tokens = s.tokens('new');
    for (let i = 4; i < tokens.length; i++)
      expect(tokens[i]).toBe(referenceNextToken(tokens.slice(0, i), 1000));
    s.finish('new');
    expect(kv.usage().usedBlocks).toBe(0);
  });

  it('preempts the last sequence in run order, not the next one', () => {
    const { s, step } = setup({ numBlocks: 5, blockSize: 2 }, { maxNumSeqs: 3 });
    s.add({ id: 'a', promptIds: range(1, 4), maxTokens: 5 }); // 2 blocks
    s.add({ id: 'b', promptIds: [50], maxTokens: 2 }); // 1 block
    s.add({ id: 'c', promptIds: range(60, 4), maxTokens: 4 }); // 2 blocks
    step(); // every block used
    const out = step(); // a needs a block: c, the last in run order, goes, though b is next
    expect(out.preempted).toEqual(['c']);
    expect(summary(out).map((x) => x[0])).toEqual(['a', 'b']);
  });

  it('preempts the sequence being scheduled when it is the latest one', () => {
    const { s, kv, engine } = setup({ numBlocks: 4, blockSize: 2 }, { maxNumSeqs: 2 });
    s.add({ id: 'a', promptIds: range(1, 3), maxTokens: 4 });
    s.add({ id: 'b', promptIds: range(10, 3), maxTokens: 4 });
    let out = s.schedule(); // both prefill: 2 + 2 blocks
    s.update(out, engine.run(out));
    out = s.schedule(); // a: position 3 fits its block; b: likewise
    s.update(out, engine.run(out));
    out = s.schedule(); // a needs a 3rd block: b, the latest, goes
    expect(out.preempted).toEqual(['b']);
    expect(summary(out)).toEqual([['a', 'decode', 4, 1, true]]);
    s.update(out, engine.run(out));
    kv.checkInvariants();
  });

  it('swaps the victim out, then back in before admitting new requests', () => {
    const { s, step, kv } = crowded({ preemptionMode: 'swap' }, 8);
    let out: SchedulerOutput;
    do out = step();
    while (out.preempted.length === 0);
    expect(out.preempted).toEqual(['new']);
    expect(out.swapOut.length).toBe(kv.blockTable('new').length);
    expect(s.status('new')).toBe('swapped');
    expect(s.numSwapped).toBe(1);
    s.add({ id: 'newest', promptIds: [1], maxTokens: 1 });
    s.finish('old');
    out = step();
    expect(out.swapIn.length).toBeGreaterThan(0);
    expect(summary(out).map((c) => c[0])).toEqual(['new', 'newest']);
    expect(s.stats()).toMatchObject({ swapPreemptions: 1, swapIns: 1 });
    while (s.numGenerated('new') < 6) step();
    const tokens = s.tokens('new');
    for (let i = 4; i < tokens.length; i++)
      expect(tokens[i]).toBe(referenceNextToken(tokens.slice(0, i), 1000));
  });

  it('falls back to recompute when the host pool cannot take the victim', () => {
    const { s, step } = crowded({ preemptionMode: 'swap' }, 1);
    let out: SchedulerOutput;
    do out = step();
    while (out.preempted.length === 0);
    expect(s.status('new')).toBe('waiting');
    expect(s.stats()).toMatchObject({ recomputePreemptions: 1, swapPreemptions: 0 });
  });

  it('does not admit in a step that had to preempt', () => {
    const { s, step } = crowded({});
    let out: SchedulerOutput;
    do {
      s.add({ id: `tiny-${s.stats().steps}`, promptIds: [5], maxTokens: 1 });
      out = step();
      for (const c of out.chunks)
        if (c.id.startsWith('tiny') && s.has(c.id) && s.numGenerated(c.id) > 0) s.finish(c.id);
    } while (out.preempted.length === 0);
    expect(out.chunks.every((c) => !c.isPrefill)).toBe(true);
  });
});

describe('Scheduler: abort, finish, fork', () => {
  it('frees an aborted sequence at once and reports it in the next output', () => {
    const { s, step, kv, engine } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'a', promptIds: range(1, 9), maxTokens: 4 });
    s.add({ id: 'b', promptIds: range(20, 3), maxTokens: 4 });
    step();
    const out = s.schedule();
    const sampled = engine.run(out);
    expect(s.abort('a')).toBe(true);
    expect(kv.has('a')).toBe(false);
    expect(kv.usage().usedBlocks).toBe(1);
    s.update(out, sampled); // a's sample is ignored
    expect(s.has('a')).toBe(false);
    expect(step().aborted).toEqual(['a']);
    expect(step().aborted).toEqual([]);
    s.add({ id: 'w', promptIds: [1], maxTokens: 1 });
    expect(s.abort('w')).toBe(true); // from the waiting queue
    expect(s.numWaiting).toBe(0);
  });

  it('frees a finished sequence now and lets update() skip it', () => {
    const { s, kv, engine } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'a', promptIds: range(1, 5), maxTokens: 4 });
    const out = s.schedule();
    s.finish('a');
    expect(kv.usage().usedBlocks).toBe(0);
    s.update(out, new Map());
    expect(s.hasUnfinished()).toBe(false);
    expect(s.stats()).toMatchObject({ added: 1, finished: 1 });
    void engine;
  });

  it('stops scheduling a sequence at maxTokens until the engine finishes it', () => {
    const { s, step } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'a', promptIds: [1, 2], maxTokens: 2 });
    step();
    step();
    expect(s.numGenerated('a')).toBe(2);
    expect(step().chunks).toEqual([]);
    s.finish('a');
  });

  it('forks after the prompt completes: the child shares blocks, samples on its own, copies on write', () => {
    const { s, kv, engine, step } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'p', promptIds: range(1, 6), maxTokens: 4 });
    s.add({ id: 'q', promptIds: range(40, 2), maxTokens: 4 });
    const out = s.schedule();
    s.fork('p', 'p/1');
    expect(kv.blockTable('p/1')).toEqual(kv.blockTable('p'));
    expect(kv.usage().usedBlocks).toBe(3);
    const sampled = engine.run(out);
    expect(() => s.update(out, sampled)).toThrow(/no sampled token for "p\/1"/);
    sampled.set('p/1', 777);
    s.update(out, sampled);
    expect(s.tokens('p/1')).toEqual([...range(1, 6), 777]);
    expect(s.tokens('p')).toEqual([...range(1, 6), sampled.get('p')]);
    const next = step();
    // The child runs right after its parent; both write into the shared, partly filled block.
    expect(summary(next).map((c) => c[0])).toEqual(['p', 'p/1', 'q']);
    expect(next.copies).toHaveLength(1);
    expect(kv.blockTable('p')[1]).not.toBe(kv.blockTable('p/1')[1]);
    expect(kv.blockTable('p')[0]).toBe(kv.blockTable('p/1')[0]);
    expect(s.tokens('p/1').at(-1)).toBe(referenceNextToken(s.tokens('p/1').slice(0, -1), 1000));
  });

  it('refuses to fork a sequence in the middle of its prefill', () => {
    const { s, step } = setup({ numBlocks: 16, blockSize: 4 }, { maxNumSeqs: 2, maxNumBatchedTokens: 4 });
    s.add({ id: 'p', promptIds: range(1, 10), maxTokens: 4 });
    s.add({ id: 'w', promptIds: [1], maxTokens: 1 });
    expect(() => s.fork('w', 'w/1')).toThrow(/the parent is waiting/);
    s.schedule();
    expect(() => s.fork('p', 'p/1')).toThrow(SchedulerOrderError);
    expect(() => s.fork('p', 'p/1')).toThrow(/middle of its prefill/);
    void step;
  });
});

describe('Scheduler: the step protocol', () => {
  it('insists on update() between steps, with the latest output, once', () => {
    const { s, engine } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'a', promptIds: [1, 2, 3], maxTokens: 4 });
    const out0 = s.schedule();
    expect(() => s.schedule()).toThrow(/step 0 still awaits update\(\)/);
    const sampled = engine.run(out0);
    expect(() => s.update(out0, new Map())).toThrow(/no sampled token for "a"/);
    expect(() => s.update(out0, new Map([['a', -3]]))).toThrow(/sampled token -3/);
    s.update(out0, sampled);
    expect(() => s.update(out0, sampled)).toThrow(/step 0 is not awaiting an update/);
    const out1 = s.schedule();
    expect(out1.step).toBe(1);
    expect(() => s.update(out0, sampled)).toThrow(SchedulerOrderError);
  });

  it("builds the next step before the previous one's tokens are known, and takes them afterwards", () => {
    const { s, kv, engine } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'a', promptIds: [1, 2, 3], maxTokens: 4 });
    const out0 = s.schedule();
    const sampled0 = engine.run(out0);
    s.updatePending(out0);
    expect(s.tokens('a')).toEqual([1, 2, 3, PENDING_TOKEN]);
    const out1 = s.schedule();
    expect(out1.chunks).toEqual([expect.objectContaining({ tokens: [PENDING_TOKEN], startPos: 3, pendingToken: true })]);
    expect(kv.hasPendingToken('a')).toBe(true);
    const sampled1 = engine.run(out1);
    expect(() => s.updatePending(out1)).toThrow(/step 0's sampled tokens are still pending/);
    expect(() => s.update(out1, sampled1)).toThrow(/call resolvePending\(\) first/);
    expect(() => s.resolvePending(out1, sampled1)).toThrow(/step 1 has no pending tokens \(step 0 has\)/);
    expect(() => s.resolvePending(out0, new Map())).toThrow(/no sampled token for "a"/);
    s.resolvePending(out0, sampled0);
    expect(s.tokens('a')).toEqual([1, 2, 3, sampled0.get('a')]);
    expect(kv.hasPendingToken('a')).toBe(false);
    s.update(out1, sampled1);
    // The same tokens as a step-by-step run: the simulated model fed the pending token from its own samples.
    expect(s.tokens('a').slice(3)).toEqual([
      referenceNextToken([1, 2, 3], 1000),
      referenceNextToken([1, 2, 3, sampled0.get('a')!], 1000),
    ]);
    expect(s.schedule().chunks[0]).not.toHaveProperty('pendingToken');
  });

  it('needs no update() for a step whose sequences all ended', () => {
    const { s } = setup({ numBlocks: 16, blockSize: 4 });
    s.add({ id: 'a', promptIds: [1, 2, 3], maxTokens: 4 });
    s.schedule();
    s.abort('a');
    expect(s.schedule().aborted).toEqual(['a']);
  });

  it('counts steps, tokens and pool usage in stats()', () => {
    const { s, step } = setup({ numBlocks: 16, blockSize: 4 }, { maxNumBatchedTokens: 8 });
    s.add({ id: 'a', promptIds: range(1, 10), maxTokens: 3 });
    step();
    step();
    step();
    expect(s.stats()).toMatchObject({
      steps: 3,
      prefillTokens: 10,
      decodeTokens: 1,
      preemptions: 0,
      kvUsage: expect.objectContaining({ usedBlocks: 3, numSequences: 1 }),
      prefixCache: expect.objectContaining({ queries: 1 }),
    });
  });
});
