import { gpuForTests } from '@llm/kernels/testing';
import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';
import { openModel } from '../node/index.js';
import { CpuModelRunner } from './cpu-runner.js';
import { GpuModelRunner } from './gpu-runner.js';
import type { ModelRunner } from './model-runner.js';

const gguf = modelFile('stories260K.gguf');
const gpu = await gpuForTests();

describe.skipIf(!gguf)('ModelRunner.logits with rows on stories260K', () => {
  it('reads every position of a chunk, in groups larger than maxSeqs on the GPU, as the CPU does', async () => {
    const model = await openModel(gguf!);
    const runners: ModelRunner[] = [await CpuModelRunner.load(model.source, { maxSeqs: 3 })];
    if (gpu) runners.push(await GpuModelRunner.load(gpu, model.source, { maxSeqs: 3 }));
    try {
      const tokens = model.tokenizer.encode('Once upon a time, there was a little girl', { addSpecial: true });
      const chunk = { tokens, startPos: 0, blockTable: [0] };
      const rows = tokens.map((_, i) => i);
      const vocab = model.source.config.vocabSize;
      const all = await Promise.all(runners.map((r) => r.logits([chunk], { rows })));
      for (const [i, runner] of runners.entries()) {
        expect(all[i]!.length).toBe(tokens.length * vocab);
        // The last row is what logits() without rows reads.
        const last = await runner.logits([chunk]);
        const lastRow = all[i]!.subarray((tokens.length - 1) * vocab);
        for (let v = 0; v < vocab; v++) expect(lastRow[v]).toBeCloseTo(last[v]!, 4);
        await expect(runner.logits([chunk], { rows: [tokens.length] })).rejects.toThrow(/outside the step's \d+ packed rows/);
      }
      if (all[1]) for (let j = 0; j < all[0]!.length; j += 97) expect(all[1][j]).toBeCloseTo(all[0]![j]!, 3);
    } finally {
      for (const r of runners) r.dispose();
      await model.source.close();
    }
  });
});
