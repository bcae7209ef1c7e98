import { describe, expect, it } from 'vitest';
import { KvCacheOptionsError, KvPlanError, planKvCacheMemory } from './index.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
// Llama-3-8B: 32 layers, 8 KV heads (GQA), head dim 128.
const llama3_8b = { numLayers: 32, numKvHeads: 8, headDim: 128, contextLength: 8192 };

describe('planKvCacheMemory', () => {
  it('sizes f16 blocks as 2 x layers x kvHeads x headDim x blockSize x 2 bytes', () => {
    const plan = planKvCacheMemory({ budgetBytes: 16 * GiB, model: llama3_8b, kvDtype: 'f16' });
    expect(plan.bytesPerBlock).toBe(2 * 32 * 8 * 128 * 16 * 2);
    expect(plan.bytesPerBlock).toBe(2 * MiB);
    expect(plan.bytesPerToken).toBe(128 * 1024);
    expect(plan.scaleBytesPerBlock).toBe(0);
    expect(plan.numBlocks).toBe(8192);
    expect(plan.tokenCapacity).toBe(131072);
    expect(plan.blocksPerSequence).toBe(512);
    expect(plan.maxSequences).toBe(16);
    expect(plan.poolBytes).toBe(16 * GiB);
    expect(plan.quantGroupSize).toBeNull();
  });

  it('gives Llama-2-7B (32 KV heads) its known 0.5 MiB per token in f16 and 1 MiB in f32', () => {
    const model = { numLayers: 32, numKvHeads: 32, headDim: 128, contextLength: 4096 };
    expect(planKvCacheMemory({ budgetBytes: 8 * GiB, model }).bytesPerToken).toBe(0.5 * MiB);
    expect(planKvCacheMemory({ budgetBytes: 8 * GiB, model, kvDtype: 'f32' }).bytesPerToken).toBe(MiB);
  });

  it('counts one f16 scale per quantization group of each token head for i8 and i4', () => {
    const int8 = planKvCacheMemory({ budgetBytes: 4 * GiB, model: llama3_8b, kvDtype: 'i8' });
    expect(int8.dataBytesPerBlock).toBe(2 * 32 * 8 * 128 * 16);
    // Default group = headDim: one scale per (K or V, layer, head, token).
    expect(int8.scaleBytesPerBlock).toBe(2 * 32 * 8 * 16 * 2);
    expect(int8.bytesPerBlock).toBe(1_064_960);
    expect(int8.quantGroupSize).toBe(128);

    const int4 = planKvCacheMemory({
      budgetBytes: 4 * GiB,
      model: llama3_8b,
      kvDtype: 'i4',
      quantGroupSize: 32,
    });
    expect(int4.dataBytesPerBlock).toBe(2 * 32 * 8 * 128 * 16 * 0.5);
    expect(int4.scaleBytesPerBlock).toBe(2 * 32 * 8 * 16 * (128 / 32) * 2);
    expect(int4.bytesPerBlock).toBe(589_824);
    expect(int4.numBlocks).toBe(Math.floor((4 * GiB) / 589_824));
  });

  it('takes a fraction of device memory minus what is reserved', () => {
    const plan = planKvCacheMemory({
      deviceBytes: 80e9,
      memoryFraction: 0.9,
      reservedBytes: 16e9,
      model: llama3_8b,
      blockSize: 32,
      sequenceLength: 2048,
    });
    expect(plan.budgetBytes).toBe(56e9);
    expect(plan.bytesPerBlock).toBe(4 * MiB);
    expect(plan.numBlocks).toBe(Math.floor(56e9 / (4 * MiB)));
    expect(plan.blocksPerSequence).toBe(64);
    expect(plan.maxSequences).toBe(Math.floor(plan.numBlocks / 64));
  });

  it('refuses a budget that cannot hold one sequence of the context and says what to change', () => {
    const run = () => planKvCacheMemory({ budgetBytes: 512 * MiB, model: llama3_8b, kvDtype: 'f16' });
    expect(run).toThrow(KvPlanError);
    expect(run).toThrow(/holds 256 blocks .* contextLength 8192 needs 512 blocks/);
    expect(run).toThrow(/raise budgetBytes to at least 1073741824/);
    expect(run).toThrow(/lower contextLength to at most 4096 tokens/);
    expect(run).toThrow(/smaller kvDtype \(i4 fits\)/);
  });

  it('refuses a device budget with the memoryFraction that would fit', () => {
    const run = () =>
      planKvCacheMemory({
        deviceBytes: 16 * GiB,
        memoryFraction: 0.5,
        reservedBytes: 7.5 * GiB,
        model: llama3_8b,
      });
    expect(run).toThrow(/raise memoryFraction to at least 0.532/);
    expect(() =>
      planKvCacheMemory({
        deviceBytes: 8 * GiB,
        memoryFraction: 0.5,
        reservedBytes: 5 * GiB,
        model: llama3_8b,
      }),
    ).toThrow(/no memory left for the KV cache/);
  });

  it('rejects malformed input with the offending field named', () => {
    const model = llama3_8b;
    expect(() => planKvCacheMemory({ model } as never)).toThrow(/exactly one of budgetBytes or deviceBytes/);
    expect(() => planKvCacheMemory({ budgetBytes: GiB, deviceBytes: GiB, model })).toThrow(
      KvCacheOptionsError,
    );
    expect(() => planKvCacheMemory({ budgetBytes: GiB, memoryFraction: 0.5, model })).toThrow(
      /apply to deviceBytes/,
    );
    expect(() => planKvCacheMemory({ budgetBytes: GiB, model, quantGroupSize: 32 })).toThrow(
      /i8\/i4 only/,
    );
    expect(() => planKvCacheMemory({ budgetBytes: GiB, model, kvDtype: 'i8', quantGroupSize: 48 })).toThrow(
      /must divide headDim 128/,
    );
    expect(() => planKvCacheMemory({ budgetBytes: GiB, model: { ...model, numLayers: 0 } })).toThrow(
      /numLayers/,
    );
    expect(() => planKvCacheMemory({ budgetBytes: GiB, model, sequenceLength: 9000 })).toThrow(/exceeds/);
  });
});
