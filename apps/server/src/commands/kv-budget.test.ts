import type { LlamaConfig } from '@llm/formats';
import { describe, expect, it } from 'vitest';
import { parseByteSize, planServeKvBudget } from './kv-budget.js';

// stories260K's shape: 5 layers, 4 KV heads of 8: a 16-token f32 block is 2 x 5 x 16 x 4 x 8 x 4 = 20 KiB.
const config = { numLayers: 5, numKvHeads: 4, headDim: 8, contextLength: 512 } as LlamaConfig;
const BLOCK_BYTES = 20 * 1024;
const base = { config, blockSize: 16, kvDtype: 'f32', maxNumSeqs: 8, maxModelLen: 512 } as const;

describe('planServeKvBudget', () => {
  it('holds every sequence of a full step at the longest length, plus the 1 % watermark', () => {
    const budget = planServeKvBudget({ ...base, freeHostBytes: 2 ** 34 });
    expect(budget).toEqual({ numBlocks: 8 * 32 + 3, bytes: (8 * 32 + 3) * BLOCK_BYTES, limitedBy: 'sequences' });
  });

  it("is capped by the adapter's binding limit on one layer's K buffer", () => {
    // One layer's K buffer takes 2 KiB per block: 100 blocks fit 200 KiB.
    const budget = planServeKvBudget({ ...base, freeHostBytes: 2 ** 34, maxBindingBytes: 200 * 1024 });
    expect(budget).toMatchObject({ numBlocks: 100, limitedBy: 'adapter' });
  });

  it('is capped by half the free host memory', () => {
    const budget = planServeKvBudget({ ...base, freeHostBytes: 100 * BLOCK_BYTES });
    expect(budget).toMatchObject({ numBlocks: 50, limitedBy: 'host memory' });
  });

  it('takes --kv-memory over the default', () => {
    const budget = planServeKvBudget({ ...base, kvMemoryBytes: 1000 * BLOCK_BYTES + 5, freeHostBytes: 1 });
    expect(budget).toMatchObject({ numBlocks: 1000, limitedBy: 'kv-memory' });
  });

  it('refuses a pool smaller than one sequence, saying what to change', () => {
    expect(() => planServeKvBudget({ ...base, kvMemoryBytes: 10 * BLOCK_BYTES })).toThrow(
      /holds 10 blocks of 16 tokens \(limited by kv-memory\), fewer than the 32 one sequence of 512 tokens needs: lower --max-model-len or raise --kv-memory/,
    );
  });
});

describe('parseByteSize', () => {
  it.each([
    ['4096', 4096],
    ['512MiB', 512 * 2 ** 20],
    ['2GiB', 2 * 2 ** 30],
    ['1.5GB', 1.5e9],
    ['64 kib', 64 * 1024],
  ])('reads %s', (text, bytes) => expect(parseByteSize(text, '--kv-memory')).toBe(bytes));

  it.each(['', 'lots', '-5', '0', '3TB'])('refuses %j naming the option', (text) => {
    expect(() => parseByteSize(text, '--kv-memory')).toThrow(/--kv-memory must be a positive size/);
  });
});
