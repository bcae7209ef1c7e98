import { gpuForTests } from '@llm/kernels/testing';
import { GpuModelRunner, type OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from './engine.js';
import { ContextLengthError, EngineClosedError, EngineRequestError, QueueFullError } from './errors.js';
import type { GenerateRequest } from './generate-request.js';
import type { StepRecord } from './step-record.js';

const gguf = modelFile('stories260K.gguf');
const gpu = await gpuForTests();

const STORY =
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the big park near his house. ' +
  'One sunny day, Tim saw a small dog under a tree. The dog was sad because it was lost. Tim wanted to help the dog find its home. ' +
  'He asked his mom, and she said they could look together. They walked past the pond, the school and the shop.';

// stories260K: 5 layers, 4 KV heads of 8: 16-token blocks of f32 K and V take 20 KiB.
const BLOCK_BYTES = 16 * 2 * 5 * 4 * 8 * 4;

describe.skipIf(!gguf || !gpu)('Engine on stories260K (WebGPU)', () => {
  let model: OpenedModel;
  let runner: GpuModelRunner;
  let small: GpuModelRunner;
  beforeAll(async () => {
    model = await openModel(gguf!);
    runner = await GpuModelRunner.load(gpu!, model.source, { maxSeqs: 32, maxStepTokens: 96, maxModelLen: 512, kvBudgetBytes: 600 * BLOCK_BYTES });
    // 40 blocks: one full context (32 blocks) and a little more.
    small = await GpuModelRunner.load(gpu!, model.source, { maxSeqs: 32, maxStepTokens: 96, maxModelLen: 512, kvBudgetBytes: 40 * BLOCK_BYTES });
  });
  afterAll(async () => {
    runner?.dispose();
    small?.dispose();
    await model?.source.close();
  });

  /** 32 prompts of different lengths (8 to about 160 tokens), each a different cut of the story. */
  const prompts = (count = 32): number[][] => {
    const ids = model.tokenizer.encode(STORY, { addSpecial: true });
    return Array.from({ length: count }, (_, i) => ids.slice(0, 8 + ((i * 37) % (ids.length - 8))));
  };

  const tokensOf = async (engine: Engine, requests: GenerateRequest[]): Promise<number[][]> => {
    const results = await Promise.all(requests.map((r) => engine.complete(r)));
    return results.map((r) => [...r.completions[0]!.tokenIds]);
  };

  const engineOn = (r: GpuModelRunner, options: EngineOptions = {}) => new Engine(r, model.tokenizer, options);

  it('gives a greedy request the same tokens alone and among 31 others, whatever the step mix', async () => {
    // Logprobs too: equal tokens could hide small differences; equal log-probabilities cannot.
    const requests = prompts().map((promptIds): GenerateRequest => ({ promptIds, maxTokens: 24, logprobs: 2, sampling: { temperature: 0 } }));
    const outputs = async (engine: Engine, batch: GenerateRequest[]) =>
      (await Promise.all(batch.map((r) => engine.complete(r)))).map((r) => ({
        tokens: r.completions[0]!.tokenIds,
        logprobs: r.completions[0]!.logprobs,
      }));
    const alone = [];
    for (const r of requests) alone.push(...(await outputs(engineOn(runner, { enablePrefixCaching: false }), [r])));

    // Steps built while the previous one runs (the default), and each after the previous one's tokens.
    for (const [budget, overlapSteps] of [[96, true], [40, false]] as const) {
      const engine = engineOn(runner, { enablePrefixCaching: false, maxNumBatchedTokens: budget, overlapSteps });
      const steps: StepRecord[] = [];
      engine.onStep((s) => steps.push(s));
      expect(await outputs(engine, requests)).toEqual(alone);
      expect(steps.some((s) => s.overlapped)).toBe(overlapSteps);
      // Prompts were chunked, and decodes shared steps with prefill chunks.
      expect(steps.some((s) => s.numDecodeTokens > 0 && s.numPrefillTokens > 0)).toBe(true);
      expect(Math.max(...steps.map((s) => s.numDecodeTokens))).toBeGreaterThan(8);
      expect(steps.every((s) => s.numPrefillTokens + s.numDecodeTokens <= budget)).toBe(true);
    }
  });

  it('gives a seeded sampled request the same tokens alone and batched', async () => {
    const requests = prompts(12).map(
      (promptIds, i): GenerateRequest => ({
        promptIds,
        maxTokens: 20,
        seed: 1000 + i,
        sampling: { temperature: 0.9, topP: 0.95, topK: 40 },
      }),
    );
    const alone: number[][] = [];
    for (const r of requests) alone.push(...(await tokensOf(engineOn(runner), [r])));
    expect(await tokensOf(engineOn(runner, { maxNumBatchedTokens: 48 }), requests)).toEqual(alone);
  });

  it('completes a workload three times the KV pool by preemption (recompute or swap), with the tokens of an unconstrained run', async () => {
    // 16 requests of about 130 tokens each: 8 or 9 blocks apiece, about 130 in all, against a pool of 40.
    const requests = prompts(16).map(
      (p, i): GenerateRequest => ({ promptIds: p.slice(0, 30 + i), maxTokens: 90, ignoreEos: true, sampling: { temperature: 0 } }),
    );
    const needed = requests.reduce((n, r) => n + Math.ceil((r.promptIds!.length + 90) / 16), 0);
    expect(needed).toBeGreaterThanOrEqual(3 * small.numBlocks);
    const free = await tokensOf(engineOn(runner), requests);
    const constrained = engineOn(small);
    expect(await tokensOf(constrained, requests)).toEqual(free);
    expect(constrained.totals().preemptions).toBeGreaterThan(0);
    expect(constrained.kv.usage().usedBlocks).toBe(0);
    // Swapping to host memory instead of recomputing gives the same tokens too.
    const swapping = engineOn(small, { preemptionMode: 'swap' });
    expect(await tokensOf(swapping, requests)).toEqual(free);
    expect(swapping.scheduler.stats().swapPreemptions).toBeGreaterThan(0);
  });

  it('frees the blocks of cancelled requests within one step; the others finish unchanged', async () => {
    const requests = prompts().map(
      (promptIds): GenerateRequest => ({ promptIds: promptIds.slice(0, 40), maxTokens: 48, ignoreEos: true, sampling: { temperature: 0 } }),
    );
    const expected = await tokensOf(engineOn(runner), requests);

    const engine = engineOn(runner);
    const controllers = requests.map(() => new AbortController());
    const streams = requests.map((r, i) => engine.generate(r, { signal: controllers[i]!.signal }));
    const steps: StepRecord[] = [];
    let abortedAt = -1;
    let abortMs = 0;
    let inFlightEndMs = 0;
    engine.onStep((s) => {
      steps.push(s);
      if (s.step === abortedAt + 1) inFlightEndMs = performance.now();
      // Mid-generation: every request decoding, several tokens in.
      if (abortedAt < 0 && s.numDecodeTokens === 32 && s.step > 4) {
        abortedAt = s.step;
        abortMs = performance.now();
        for (let i = 0; i < 32; i += 2) controllers[i]!.abort();
      }
    });
    const results = await Promise.all(streams.map((s) => s.result()));
    expect(abortedAt).toBeGreaterThan(0);
    // Greedy decodes: each step after the first prefill was built while the one before ran.
    expect(steps.filter((s) => s.overlapped).length).toBeGreaterThan(steps.length / 2);
    const cancelled = new Set(streams.filter((_, i) => i % 2 === 0).map((s) => s.requestId));
    // The next step may have been built while the aborted one ran (overlapped): the first step
    // built after the abort runs none of the cancelled requests.
    const next = steps.find((s) => s.startMs >= abortMs)!;
    expect(next.step).toBeLessThanOrEqual(abortedAt + 2);
    expect(next.decode.some((id) => cancelled.has(id))).toBe(false);
    expect(next.numDecodeTokens).toBe(16);
    // Within one step: when the step in flight at the abort comes back, each survivor holds
    // ceil(tokens / 16) blocks (its tokens so far and the slot of the step already built) and the
    // cancelled ones hold none.
    const inFlight = steps.find((s) => s.step === abortedAt + 1)!;
    const survivorBlocks = results
      .filter((_, i) => i % 2 === 1)
      .reduce((n, r) => {
        const tokens = r.promptTokenIds.length + r.completions[0]!.tokenTimesMs.filter((t) => t <= inFlightEndMs).length + 1;
        return n + Math.ceil(tokens / 16);
      }, 0);
    expect(inFlight.kv.usedBlocks).toBeLessThanOrEqual(survivorBlocks);
    results.forEach((r, i) => {
      if (i % 2 === 0) {
        expect(r.completions[0]!.finishReason).toBe('abort');
        expect(r.completions[0]!.tokenIds).toEqual(expected[i]!.slice(0, r.completions[0]!.tokenIds.length));
      } else expect(r.completions[0]!.tokenIds).toEqual(expected[i]);
    });
    expect(engine.kv.usage().usedBlocks).toBe(0);
  });

  it('aborts a request whose consumer stops iterating, refuses past maxWaiting, and closes', async () => {
    const engine = engineOn(runner, { maxWaiting: 2, maxNumSeqs: 1 });
    const stream = engine.generate({ prompt: 'Once upon a time', maxTokens: 100, ignoreEos: true, sampling: { temperature: 0 } });
    const queued = engine.complete({ prompt: 'The dog', maxTokens: 4, sampling: { temperature: 0 } });
    const alsoQueued = engine.complete({ prompt: 'The cat', maxTokens: 4, sampling: { temperature: 0 } });
    expect(() => engine.generate({ prompt: 'One more' })).toThrow(QueueFullError);
    let deltas = 0;
    for await (const delta of stream) {
      expect(delta.tokenIds.length).toBeGreaterThan(0);
      if (++deltas === 3) break;
    }
    const result = await stream.result();
    expect(result.completions[0]!.finishReason).toBe('abort');
    expect(result.completions[0]!.tokenIds.length).toBeLessThan(100);
    expect((await queued).completions[0]!.tokenIds).toHaveLength(4);
    expect((await alsoQueued).completions[0]!.tokenIds).toHaveLength(4);
    const pending = engine.complete({ prompt: 'Once upon a time', maxTokens: 100, ignoreEos: true });
    await engine.close();
    expect((await pending).completions[0]!.finishReason).toBe('abort');
    expect(() => engine.generate({ prompt: 'x' })).toThrow(EngineClosedError);
    expect(engine.kv.usage().usedBlocks).toBe(0);
  });

  it('streams text that never breaks a character and ends equal to the full decode', async () => {
    const engine = engineOn(runner);
    const stream = engine.generate({ prompt: 'Once upon a time', maxTokens: 60, seed: 7, sampling: { temperature: 1 } });
    let text = '';
    for await (const delta of stream) {
      expect(delta.text).not.toContain('\uFFFD');
      text += delta.text;
    }
    const result = await stream.result();
    const ids = result.completions[0]!.tokenIds;
    expect(text).toBe(result.completions[0]!.text);
    expect(text).toBe(model.tokenizer.decode(ids, { previousId: result.promptTokenIds.at(-1)! }));
  });

  it('counts as cached only the prompt tokens the prefix cache supplied, however the prompt is chunked', async () => {
    const prompt = prompts().reduce((a, b) => (b.length > a.length ? b : a));
    expect(prompt.length).toBeGreaterThan(100);
    const chunked = engineOn(runner, { maxNumBatchedTokens: 40 });
    const first = await chunked.complete({ promptIds: prompt, maxTokens: 2, sampling: { temperature: 0 } });
    expect(first.cachedPromptTokens).toBe(0);
    const second = await chunked.complete({ promptIds: prompt, maxTokens: 2, sampling: { temperature: 0 } });
    // Every full block but what the last prompt token needs to run again.
    expect(second.cachedPromptTokens).toBeGreaterThanOrEqual(prompt.length - 16);
    expect(second.cachedPromptTokens).toBeLessThan(prompt.length);
    expect(chunked.totals().cachedPromptTokens).toBe(second.cachedPromptTokens);
  });

  it('ends a completion at a stop string, which is not emitted, and at a stop token id', async () => {
    const engine = engineOn(runner);
    const free = await engine.complete({ prompt: 'Once upon a time', maxTokens: 60, sampling: { temperature: 0 } });
    const text = free.completions[0]!.text;
    const stop = text.slice(12, 15);
    const cut = await engine.complete({ prompt: 'Once upon a time', maxTokens: 60, stop: [stop], sampling: { temperature: 0 } });
    expect(cut.completions[0]).toMatchObject({ text: text.slice(0, text.indexOf(stop)), finishReason: 'stop', stopReason: stop });

    const token = free.completions[0]!.tokenIds[5]!;
    const byId = await engine.complete({ prompt: 'Once upon a time', maxTokens: 60, stopTokenIds: [token], sampling: { temperature: 0 } });
    const at = free.completions[0]!.tokenIds.indexOf(token);
    expect(byId.completions[0]!.tokenIds).toEqual(free.completions[0]!.tokenIds.slice(0, at + 1));
    expect(byId.completions[0]).toMatchObject({ finishReason: 'stop', stopReason: token });
  });

  it('runs n completions of one prompt on shared blocks, each reproducible from the seed', async () => {
    const engine = engineOn(runner);
    const request: GenerateRequest = { prompt: STORY, n: 4, maxTokens: 16, seed: 3, sampling: { temperature: 1 } };
    const a = await engine.complete(request);
    const b = await engineOn(runner, { enablePrefixCaching: false }).complete(request);
    expect(a.completions).toHaveLength(4);
    expect(a.completions.map((c) => c.tokenIds)).toEqual(b.completions.map((c) => c.tokenIds));
    expect(new Set(a.completions.map((c) => c.tokenIds.join())).size).toBeGreaterThan(1);
    expect(a.usage.completionTokens).toBe(a.completions.reduce((n, c) => n + c.tokenIds.length, 0));
  });

  it('records the copy-on-write of n completions forking a prompt, whose blocks the block map shows shared', async () => {
    const engine = engineOn(runner);
    const steps: StepRecord[] = [];
    let maxOwners = 0;
    engine.onStep((s) => {
      steps.push(s);
      for (const block of engine.kv.blockMap()) maxOwners = Math.max(maxOwners, block.owners.length);
    });
    // 21 prompt tokens: the second block is partly filled, so each fork's first token splits it.
    const promptIds = model.tokenizer.encode(STORY, { addSpecial: true }).slice(0, 21);
    await engine.complete({ promptIds, n: 4, maxTokens: 6, seed: 7, ignoreEos: true });
    expect(maxOwners).toBe(4);
    expect(steps[0]!.prefill).toEqual([{ seqId: '0', tokens: 21, startPos: 0 }]);
    const copies = steps.flatMap((s) => s.copies);
    expect(copies.length).toBeGreaterThanOrEqual(3);
    for (const { src, dst } of copies) expect(src).not.toBe(dst);
    expect(engine.kv.blockMap().every((b) => b.owners.length === 0)).toBe(true);
  });

  it('applies logit bias, bans, min tokens and penalties on the device, and returns raw logprobs', async () => {
    const engine = engineOn(runner);
    const base = { prompt: 'Once upon a time', maxTokens: 40 } as const;
    const greedy = (await engine.complete({ ...base, sampling: { temperature: 0 }, logprobs: 3 })).completions[0]!;
    const first = greedy.tokenIds[0]!;
    // Greedy picks the top raw logprob; the alternatives are sorted and are log-probabilities.
    greedy.logprobs!.forEach((lp, i) => {
      expect(lp.tokenId).toBe(greedy.tokenIds[i]);
      expect(lp.top).toHaveLength(3);
      expect(lp.top[0]!.tokenId).toBe(lp.tokenId);
      expect(lp.top[0]!.logprob).toBeCloseTo(lp.logprob, 6);
      expect(lp.top[0]!.logprob).toBeGreaterThanOrEqual(lp.top[1]!.logprob);
      expect(lp.logprob).toBeLessThanOrEqual(0);
    });

    const banned = (await engine.complete({ ...base, sampling: { temperature: 0, logitBias: { [first]: -Infinity } } })).completions[0]!;
    expect(banned.tokenIds).not.toContain(first);
    const forced = (await engine.complete({ ...base, maxTokens: 5, sampling: { temperature: 1, logitBias: { 300: 100 } } })).completions[0]!;
    expect(forced.tokenIds).toEqual([300, 300, 300, 300, 300]);

    const eog = [...model.tokenizer.eogIds];
    const long = (await engine.complete({ ...base, maxTokens: 200, minTokens: 150, seed: 2, sampling: { temperature: 1 } })).completions[0]!;
    expect(long.tokenIds.slice(0, 150).some((t) => eog.includes(t))).toBe(false);
    expect(long.tokenIds.length).toBeGreaterThanOrEqual(150);

    const penalised = (await engine.complete({ ...base, sampling: { temperature: 0, repetitionPenalty: 1.5, frequencyPenalty: 1 } })).completions[0]!;
    expect(penalised.tokenIds).not.toEqual(greedy.tokenIds);
    const distinct = (ids: readonly number[]) => new Set(ids).size / ids.length;
    expect(distinct(penalised.tokenIds)).toBeGreaterThan(distinct(greedy.tokenIds));
  });

  it('fills sampling defaults for a partial sampling object and refuses bad requests with typed errors', async () => {
    const engine = engineOn(runner);
    const partial = await engine.complete({ prompt: 'Once upon a time', maxTokens: 24, seed: 1, sampling: { temperature: 0.8 } });
    const unk = model.tokenizer.tokenId('<unk>');
    expect(partial.completions[0]!.tokenIds.filter((t) => t === unk)).toEqual([]);
    expect(partial.completions[0]!.text.length).toBeGreaterThan(10);

    const bad: unknown[] = [
      { prompt: 'x', sampling: { temperature: -1 } },
      { prompt: 'x', sampling: { topP: 0 } },
      { prompt: 'x', sampling: { temprature: 1 } },
      { prompt: 'x', promptIds: [1] },
      {},
      { promptIds: [1, 2.5] },
      { promptIds: [1, 100000] },
      { promptIds: [] },
      { prompt: 'x', maxTokens: 0 },
      { prompt: 'x', n: 0 },
      { prompt: 'x', logprobs: 21 },
      { prompt: 'x', sampling: { logitBias: { 5: 101 } } },
      { prompt: 'x', sampling: { logitBias: { 600: 1 } } },
      { prompt: 'x', stopTokenIds: [600] },
    ];
    for (const request of bad) expect(() => engine.generate(request as GenerateRequest), JSON.stringify(request)).toThrow(EngineRequestError);
    expect(() => engine.generate({ promptIds: new Array<number>(600).fill(1) })).toThrow(ContextLengthError);
  });
});
