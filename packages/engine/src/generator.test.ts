import { gpuForTests } from '@llm/kernels/testing';
import { GpuModelRunner, GREEDY, type OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextLengthError, EngineRequestError } from './errors.js';
import { Generator } from './generator.js';

const gguf = modelFile('stories260K.gguf');
const gpu = await gpuForTests();

const STORY =
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the big park near his house. ' +
  'One sunny day, Tim saw a small dog under a tree. The dog was sad because it was lost. Tim wanted to help the dog find its home. ' +
  'He asked his mom, and she said they could look together. They walked past the pond, the school and the shop.';

describe.skipIf(!gguf || !gpu)('Generator on stories260K (WebGPU)', () => {
  let model: OpenedModel;
  let runner: GpuModelRunner;
  beforeAll(async () => {
    model = await openModel(gguf!);
    runner = await GpuModelRunner.load(gpu!, model.source, { maxStepTokens: 64 });
  });
  afterAll(async () => {
    runner?.dispose();
    await model?.source.close();
  });

  const prompts = () => [
    model.tokenizer.encode(`${STORY} Then Tim`, { addSpecial: true }),
    model.tokenizer.encode(`${STORY} Then the dog`, { addSpecial: true }),
  ];

  it('gives the same tokens with prefix caching on and off, and the second request skips the shared prefix', async () => {
    const [a, b] = prompts() as [number[], number[]];
    const shared = a.findIndex((t, i) => t !== b[i]);
    expect(shared).toBeGreaterThan(64);

    const off = new Generator(runner, model.tokenizer, { enablePrefixCaching: false });
    const offA = await off.generate({ promptIds: a, maxTokens: 24, sampling: GREEDY });
    const offB = await off.generate({ promptIds: b, maxTokens: 24, sampling: GREEDY });
    expect(offB.cachedPromptTokens).toBe(0);

    const on = new Generator(runner, model.tokenizer, { enablePrefixCaching: true });
    const onA = await on.generate({ promptIds: a, maxTokens: 24, sampling: GREEDY });
    const onB = await on.generate({ promptIds: b, maxTokens: 24, sampling: GREEDY });
    expect(onA.tokenIds).toEqual(offA.tokenIds);
    expect(onB.tokenIds).toEqual(offB.tokenIds);

    // Every full block of the shared prefix came from the cache: its prefill was skipped.
    const blockSize = runner.blockSize;
    expect(onA.cachedPromptTokens).toBe(0);
    expect(onB.cachedPromptTokens).toBe(Math.floor(shared / blockSize) * blockSize);
    expect(on.prefixCacheStats().hitTokens).toBe(onB.cachedPromptTokens);

    // Cached but unreferenced blocks count as free: with nothing in flight, usage is 0.
    expect(on.kv.usage().usage).toBe(0);
    expect(on.kv.usage().cachedBlocks).toBeGreaterThan(0);
  });

  it('chunks a prefill longer than maxStepTokens and matches one-step prefill', async () => {
    const [a] = prompts() as [number[]];
    const chunked = await new Generator(runner, model.tokenizer, { enablePrefixCaching: false }).generate({
      promptIds: a,
      maxTokens: 16,
      sampling: GREEDY,
    });
    const whole = await GpuModelRunner.load(gpu!, model.source, { maxStepTokens: 512 });
    try {
      const single = await new Generator(whole, model.tokenizer).generate({ promptIds: a, maxTokens: 16, sampling: GREEDY });
      expect(chunked.tokenIds).toEqual(single.tokenIds);
    } finally {
      whole.dispose();
    }
  });

  it('samples reproducibly from a seed and stops at maxTokens', async () => {
    const g = new Generator(runner, model.tokenizer);
    const sampling = { temperature: 0.9, topP: 0.9, topK: 40, minP: 0.05 };
    const one = await g.generate({ promptIds: [1], maxTokens: 20, sampling, seed: 42 });
    const two = await g.generate({ promptIds: [1], maxTokens: 20, sampling, seed: 42 });
    expect(two.tokenIds).toEqual(one.tokenIds);
    expect(one.tokenIds).toHaveLength(20);
    expect(one.finishReason).toBe('length');
    expect(one.text.length).toBeGreaterThan(0);
  });

  it('calls onPrefillDone once, after the prefill steps and before the decode steps', async () => {
    const [a] = prompts() as [number[]];
    const steps: string[] = [];
    const step = runner.step.bind(runner);
    const traced = Object.assign(Object.create(runner) as GpuModelRunner, {
      step: (...args: Parameters<GpuModelRunner['step']>) => {
        steps.push(`step of ${args[0][0]!.tokens.length}`);
        return step(...args);
      },
    });
    const g = new Generator(traced, model.tokenizer, { enablePrefixCaching: false });
    const result = await g.generate({
      promptIds: a,
      maxTokens: 3,
      sampling: GREEDY,
      onPrefillDone: () => steps.push('prefill done'),
    });
    expect(result.tokenIds).toHaveLength(3);
    const prefillSteps = Math.ceil(a.length / runner.maxStepTokens);
    expect(steps.indexOf('prefill done')).toBe(prefillSteps);
    expect(steps.filter((s) => s === 'prefill done')).toHaveLength(1);
    expect(steps.slice(prefillSteps + 1)).toEqual(['step of 1', 'step of 1']);
  });

  it('refuses prompts it cannot run, leaving the KV cache empty', async () => {
    const g = new Generator(runner, model.tokenizer);
    await expect(g.generate({ promptIds: [], maxTokens: 4, sampling: GREEDY })).rejects.toThrow(EngineRequestError);
    await expect(g.generate({ promptIds: [1, 99999], maxTokens: 4, sampling: GREEDY })).rejects.toThrow(/vocabulary/);
    const tooLong = new Array<number>(runner.config.contextLength).fill(5);
    await expect(g.generate({ promptIds: tooLong, maxTokens: 4, sampling: GREEDY })).rejects.toThrow(ContextLengthError);
    expect(g.kv.usage().numSequences).toBe(0);
  });
});
