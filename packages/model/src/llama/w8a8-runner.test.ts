import { gpuForTests } from '@llm/kernels/testing';
import { LlmError } from '@llm/quant';
import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';
import { openModel } from '../node/index.js';
import { CpuModelRunner } from './cpu-runner.js';
import { GpuModelRunner } from './gpu-runner.js';
import type { SequenceChunk } from './forward-batch.js';
import { KvPoolError } from './runner-options.js';

const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const q8 = modelFile('synthetic/gqa-d128-q8_0.gguf');
const gpu = await gpuForTests();

/** Token ids in [3, vocab) from a seeded LCG. */
function tokens(seed: number, length: number, vocab: number): number[] {
  let s = seed;
  return Array.from({ length }, () => 3 + ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % (vocab - 3)));
}

/** Every position's logits of one prompt, as a chunk starting at block `firstBlock`. */
function chunk(ids: readonly number[], firstBlock: number): SequenceChunk {
  return { tokens: [...ids], startPos: 0, blockTable: Array.from({ length: Math.ceil(ids.length / 16) }, (_, i) => firstBlock + i) };
}

function argmaxRows(logits: Float32Array, vocab: number): number[] {
  const rows = logits.length / vocab;
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[r * vocab + i]! > logits[r * vocab + best]!) best = i;
    return best;
  });
}

describe.skipIf(!bin || !tok || !gpu)('GpuModelRunner with w8a8 on stories260K', () => {
  const ctx = gpu!;
  const options = { maxStepTokens: 128, maxSeqs: 4, kvBudgetBytes: 8 * 2 ** 20 };

  it('stays close to the float model and gives a prompt the same bits alone and batched', async () => {
    const model = await openModel(bin!, { tokenizerPath: tok! });
    const vocab = model.source.config.vocabSize;
    const calibration = [tokens(1, 64, vocab), tokens(2, 64, vocab)];
    const float = await GpuModelRunner.load(ctx, model.source, options);
    const progress: [number, number][] = [];
    const w8a8 = await GpuModelRunner.load(ctx, model.source, { ...options, w8a8: { calibration } }, (done, total) =>
      progress.push([done, total]),
    );
    // The calibration pass reports a step per layer before the upload's steps.
    const layers = model.source.config.numLayers;
    expect(progress.map(([done]) => done)).toEqual(Array.from({ length: 2 * layers + 2 }, (_, i) => i + 1));
    expect(new Set(progress.map(([, total]) => total))).toEqual(new Set([2 * layers + 2]));
    try {
      const prompt = model.tokenizer.encode('Once upon a time, there was a little girl named Lily. She liked to play', { addSpecial: true });
      const rows = prompt.map((_, i) => i);
      const want = await float.logits([chunk(prompt, 0)], { rows });
      const got = await w8a8.logits([chunk(prompt, 0)], { rows });
      let num = 0;
      let den = 0;
      for (let i = 0; i < want.length; i++) {
        num += (got[i]! - want[i]!) ** 2;
        den += want[i]! ** 2;
      }
      const relative = Math.sqrt(num / den);
      const top1 = argmaxRows(got, vocab);
      const agree = argmaxRows(want, vocab).filter((t, i) => t === top1[i]).length / prompt.length;
      expect(relative, `logits' relative L2 against the float model`).toBeLessThan(0.1);
      expect(agree, `top-1 agreement with the float model`).toBeGreaterThanOrEqual(0.8);

      // Among a longer and a shorter prompt, in the middle of the packed step.
      const other = tokens(3, 37, vocab);
      const batched = await w8a8.logits([chunk(other, 0), chunk(prompt, 3), chunk(other.slice(0, 5), 6)]);
      const alone = await w8a8.logits([chunk(prompt, 3)]);
      expect(Array.from(batched.subarray(vocab, 2 * vocab))).toEqual(Array.from(alone));
    } finally {
      float.dispose();
      w8a8.dispose();
      await model.source.close();
    }
  });

  it('refuses calibration outside the model, the CPU runner and block-quantized weights', async () => {
    const model = await openModel(bin!, { tokenizerPath: tok! });
    try {
      const vocab = model.source.config.vocabSize;
      await expect(GpuModelRunner.load(ctx, model.source, { ...options, w8a8: { calibration: [[1, vocab]] } })).rejects.toThrow(KvPoolError);
      await expect(GpuModelRunner.load(ctx, model.source, { ...options, w8a8: { calibration: [] } })).rejects.toThrow(/calibration/);
      await expect(CpuModelRunner.load(model.source, { ...options, w8a8: { calibration: [[1, 2]] } })).rejects.toThrow(LlmError);
    } finally {
      await model.source.close();
    }
    if (!q8) return;
    const quantized = await openModel(q8);
    try {
      const load = GpuModelRunner.load(ctx, quantized.source, { ...options, w8a8: { calibration: [[1, 2, 3]] } });
      await expect(load).rejects.toThrow(/W8A8 takes f32, f16 or bf16 weights; blk\.0\.attn_qkv is q8_0/);
    } finally {
      await quantized.source.close();
    }
  });
});
