import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '@llm/formats';
import { BatchShapeError, packBatch, packBatchWithin, type StepLimits } from './forward-batch.js';

describe('packBatch', () => {
  it('derives positions, slots, offsets and LM-head rows of ragged sequences, decodes packed first', () => {
    const batch = packBatch(
      [
        { tokens: [7, 8, 9], startPos: 0, blockTable: [5] },
        { tokens: [4], startPos: 5, blockTable: [2, 9] },
        { tokens: [3], startPos: 1, blockTable: [6], prefill: true },
      ],
      4,
    );
    // The decode (chunk 1) first, then the prefill chunks in their order (0, then the 1-token prompt chunk 2).
    expect(batch.numDecodeSeqs).toBe(1);
    expect([...batch.order]).toEqual([1, 0, 2]);
    expect([...batch.positions]).toEqual([5, 0, 1, 2, 1]);
    expect([...batch.slots]).toEqual([37, 20, 21, 22, 25]);
    expect([...batch.queryStarts]).toEqual([0, 1, 4, 5]);
    expect([...batch.contextLens]).toEqual([6, 3, 2]);
    // By chunk index: chunk 0 ends at packed row 3, chunk 1 at row 0, chunk 2 at row 4.
    expect([...batch.lastRows]).toEqual([3, 0, 4]);
    expect(batch.maxBlocksPerSeq).toBe(2);
    expect([...batch.blockTables]).toEqual([2, 9, 5, 0, 6, 0]);
  });

  it('refuses a decode of several tokens', () => {
    expect(() => packBatch([{ tokens: [1, 2], startPos: 0, blockTable: [0], prefill: false }], 4)).toThrow(BatchShapeError);
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
