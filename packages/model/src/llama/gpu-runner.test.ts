import { gpuForTests } from '@llm/kernels/testing';
import { describe, expect, it } from 'vitest';
import { openModel } from '../node/index.js';
import { modelFile } from '@llm/formats/testing';
import { CpuModelRunner } from './cpu-runner.js';
import { BatchShapeError, type SequenceChunk } from './forward-batch.js';
import { GpuModelRunner } from './gpu-runner.js';
import { GREEDY, type ModelRunner, type SampleRequest, type StepResult } from './model-runner.js';

const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const gpu = await gpuForTests();

const MiB = 2 ** 20;
// A pool large enough that leaking it on each of the loop's runners would show in RSS too
// (lavapipe keeps buffers in host memory), far above the allocator's noise.
const KV_BUDGET_BYTES = 64 * MiB;
const RUNS = 8;
// RSS settles after two runs (the allocator keeps the first runner's freed pages for the second's).
const WARM_UP_RUNS = 2;
// The device returns a destroyed buffer's memory a little later, so one sample may still hold the
// last pool; the least of the final samples may not: leaked pools would add one per run.
const FINAL_SAMPLES = 3;

describe.skipIf(!bin || !tok || !gpu)('GpuModelRunner.dispose on stories260K', () => {
  const ctx = gpu!;

  it('releases every buffer it created, run after run, and RSS stays flat', async () => {
    const model = await openModel(bin!, { tokenizerPath: tok! });
    try {
      const prompt = model.tokenizer.encode('Once upon a time', { addSpecial: true });
      const blockTable = Array.from({ length: Math.ceil(prompt.length / 16) }, (_, i) => i);
      const liveAfterDispose: number[] = [];
      const rss: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const before = ctx.liveBuffers.bytes;
        const runner = await GpuModelRunner.load(ctx, model.source, {
          kvBudgetBytes: KV_BUDGET_BYTES,
          maxStepTokens: 64,
          maxSeqs: 2,
        });
        expect(ctx.liveBuffers.bytes - before).toBeGreaterThanOrEqual(runner.kvPoolBytes);
        await runner.step([{ tokens: prompt, startPos: 0, blockTable }], [{ chunk: 0, params: GREEDY, u: 0 }]);
        runner.dispose();
        runner.dispose();
        await ctx.sync();
        liveAfterDispose.push(ctx.liveBuffers.bytes);
        rss.push(process.memoryUsage().rss);
      }
      // The first run may leave context-wide buffers behind (read staging, attention's split
      // scratch, the uniform arena), reused by every later run; nothing of the runner's stays.
      expect(new Set(liveAfterDispose).size).toBe(1);
      const growth = Math.min(...rss.slice(-FINAL_SAMPLES)) - rss[WARM_UP_RUNS - 1]!;
      expect(growth).toBeLessThan(KV_BUDGET_BYTES);
    } finally {
      await model.source.close();
    }
  });
});

describe.skipIf(!bin || !tok || !gpu)('GpuModelRunner.step on stories260K', () => {
  it('samples more rows than maxSeqs in groups, each row with its own settings', async () => {
    const model = await openModel(bin!, { tokenizerPath: tok! });
    const runner = await GpuModelRunner.load(gpu!, model.source, { maxSeqs: 2, maxModelLen: 512 });
    try {
      const prompt = model.tokenizer.encode('Once upon a time', { addSpecial: true });
      const chunks = [{ tokens: prompt, startPos: 0, blockTable: [0] }];
      // Seven samples of one chunk (n > 1): four groups of at most two rows, settings differing per row.
      const samples = [0.05, 0.3, 0.55, 0.8, 0.95, 0.15, 0.7].map((u, i) => ({
        chunk: 0,
        params: i === 3 ? GREEDY : { ...GREEDY, temperature: 1.5 },
        u,
        ...(i === 5 ? { processors: { logitBias: { 300: 100 } } } : {}),
        ...(i % 2 === 0 ? { logprobs: 2 } : {}),
      }));
      const alone = [];
      for (const sample of samples) alone.push(await runner.step(chunks, [sample]));
      const together = await runner.step(chunks, samples);
      expect([...together.tokens]).toEqual(alone.map((r) => r.tokens[0]));
      expect(together.logprobs).toEqual(alone.map((r) => r.logprobs[0]));
      expect(new Set(together.tokens).size).toBeGreaterThan(2);
      expect(together.tokens[5]).toBe(300);
    } finally {
      runner.dispose();
      await model.source.close();
    }
  });
});

describe.skipIf(!bin || !tok || !gpu)('ModelRunner.step with previousSamples on stories260K', () => {
  const prompts = ['Once upon a time', 'The cat', 'Lily and Ben went to the park'];
  /** Decode steps over three sequences; each step's chunks in an order of its own. */
  const orderOf = (step: number) => [[0, 1, 2], [2, 1, 0], [1, 2, 0]][step % 3]!;
  const STEPS = 7;

  async function decode(runner: ModelRunner, prompt: number[][], pipelined: boolean): Promise<number[][]> {
    const tables = prompt.map((_, i) => [2 * i, 2 * i + 1]);
    const sample = (seq: number, step: number): SampleRequest => ({
      chunk: 0,
      params: { ...GREEDY, temperature: seq === 1 ? 0 : 0.9 },
      u: ((seq * 7 + step * 3) % 10) / 10 + 0.05,
    });
    const first = await runner.step(
      prompt.map((tokens, i) => ({ tokens, startPos: 0, blockTable: tables[i]!, prefill: true })),
      prompt.map((_, i) => ({ ...sample(i, 0), chunk: i })),
    );
    const out = prompt.map((_, i) => [first.tokens[i]!]);
    // Where each sequence's last token sits among the previous step's samples.
    let sampleOf = [0, 1, 2];
    let inFlight: { order: number[]; result: Promise<StepResult> } | undefined;
    for (let step = 1; step <= STEPS; step++) {
      const order = orderOf(step);
      const chunks: SequenceChunk[] = order.map((seq) => ({
        tokens: [pipelined ? 0 : out[seq]!.at(-1)!],
        startPos: prompt[seq]!.length + step - 1,
        blockTable: tables[seq]!,
      }));
      const samples = order.map((seq, i) => ({ ...sample(seq, step), chunk: i }));
      const previousSamples = order.map((seq, i) => [i, sampleOf[seq]!] as const);
      const result = runner.step(chunks, samples, pipelined ? { previousSamples } : {});
      sampleOf = [0, 1, 2].map((seq) => order.indexOf(seq));
      if (pipelined) {
        // The next step is submitted before this one's tokens are read.
        if (inFlight) {
          const done = await inFlight.result;
          inFlight.order.forEach((seq, i) => out[seq]!.push(done.tokens[i]!));
        }
        inFlight = { order, result };
      } else {
        const done = await result;
        order.forEach((seq, i) => out[seq]!.push(done.tokens[i]!));
      }
    }
    const done = await inFlight?.result;
    if (done) inFlight!.order.forEach((seq, i) => out[seq]!.push(done.tokens[i]!));
    return out;
  }

  it("feeds the previous step's samples on the device: the tokens of a step-by-step run, on both runners", async () => {
    const model = await openModel(bin!, { tokenizerPath: tok! });
    const runners: ModelRunner[] = [
      await GpuModelRunner.load(gpu!, model.source, { maxSeqs: 4, maxModelLen: 256, blockSize: 32 }),
      await CpuModelRunner.load(model.source, { maxSeqs: 4, maxModelLen: 256, blockSize: 32 }),
    ];
    try {
      const prompt = prompts.map((p) => model.tokenizer.encode(p, { addSpecial: true }));
      const results = [];
      for (const runner of runners) {
        const stepwise = await decode(runner, prompt, false);
        expect(await decode(runner, prompt, true)).toEqual(stepwise);
        expect(stepwise.every((t) => t.length === STEPS + 1)).toBe(true);
        results.push(stepwise);
      }
      // Sampled at temperature 0.9 on different seeds' draws: not one token over and over.
      expect(new Set(results[0]!.flat()).size).toBeGreaterThan(5);

      for (const runner of runners) {
        const decodeChunk = { tokens: [0], startPos: 40, blockTable: [0, 1] };
        const prefill = { tokens: [1, 2], startPos: 0, blockTable: [0], prefill: true };
        const one = [{ chunk: 0, params: GREEDY, u: 0 }];
        await runner.step([decodeChunk], one);
        await expect(runner.step([prefill], one, { previousSamples: [[0, 0]] })).rejects.toThrow(BatchShapeError);
        await expect(runner.step([decodeChunk], one, { previousSamples: [[0, 1]] })).rejects.toThrow(
          /takes sample 1 of the previous step, which left samples 0..0/,
        );
      }
    } finally {
      for (const runner of runners) runner.dispose();
      await model.source.close();
    }
  });
});
