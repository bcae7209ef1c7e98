import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '@llm/formats';
import { BatchShapeError, packBatch, packBatchWithin, type StepLimits } from './forward-batch.js';

describe('packBatch', () => {
  it('derives positions, slots, offsets and LM-head rows of ragged sequences', () => {
    const batch = packBatch(
      [
        { tokens: [7, 8, 9], startPos: 0, blockTable: [5] },
        { tokens: [4], startPos: 5, blockTable: [2, 9] },
      ],
      4,
    );
    expect([...batch.positions]).toEqual([0, 1, 2, 5]);
    expect([...batch.slots]).toEqual([20, 21, 22, 37]);
    expect([...batch.queryStarts]).toEqual([0, 3, 4]);
    expect([...batch.contextLens]).toEqual([3, 6]);
    expect([...batch.lastRows]).toEqual([2, 3]);
    expect(batch.maxBlocksPerSeq).toBe(2);
    expect([...batch.blockTables]).toEqual([5, 0, 2, 9]);
  });
});

describe('packBatchWithin', () => {
  const limits: StepLimits = {
    blockSize: 4,
    numBlocks: 16,
    maxStepTokens: 8,
    maxSeqs: 2,
    config: { vocabSize: 100, contextLength: 16 } as LlamaConfig,
  };

  it('refuses a sequence past the model context, unknown blocks and oversized steps', () => {
    expect(() => packBatchWithin([{ tokens: [1, 2], startPos: 15, blockTable: [0, 1, 2, 3, 4] }], limits)).toThrow(
      /past the model's context of 16/,
    );
    expect(() => packBatchWithin([{ tokens: [1], startPos: 0, blockTable: [16] }], limits)).toThrow(BatchShapeError);
    expect(() => packBatchWithin([{ tokens: new Array(9).fill(1), startPos: 0, blockTable: [0, 1, 2] }], limits)).toThrow(
      /maxStepTokens/,
    );
    expect(() => packBatchWithin([{ tokens: [100], startPos: 0, blockTable: [0] }], limits)).toThrow(/vocabulary/);
  });
});
