import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '@llm/formats';
import { KvPoolError, kvLayerBlockBytes, resolveRunnerOptions } from './runner-options.js';

// TinyLlama-1.1B's shape: 22 layers, 4 KV heads of 64, 2048 tokens of context.
const config: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 32000,
  dim: 2048,
  hiddenDim: 5632,
  numLayers: 22,
  numHeads: 32,
  numKvHeads: 4,
  headDim: 64,
  contextLength: 2048,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeLayout: 'halfSplit',
  ropeScaling: { type: 'none', factor: 1 },
  tiedEmbeddings: false,
  qkvBias: false,
};
// 2 (K, V) x 22 layers x 16 tokens x 4 heads x 64 x 4 bytes.
const F32_BLOCK_BYTES = 2 * 22 * 16 * 4 * 64 * 4;

describe('resolveRunnerOptions', () => {
  it('sizes the pool for two full-context sequences when no budget is given', () => {
    const o = resolveRunnerOptions(config, {});
    expect(o.numBlocks).toBe(2 * (2048 / 16));
    expect(o.kvPoolBytes).toBe(o.numBlocks * F32_BLOCK_BYTES);
    expect(resolveRunnerOptions(config, { blockSize: 32, kvDtype: 'f16' }).numBlocks).toBe(2 * (2048 / 32));
  });

  it('turns a budget into the whole blocks it holds, per element type', () => {
    const budget = 1000 * F32_BLOCK_BYTES + F32_BLOCK_BYTES / 2;
    expect(resolveRunnerOptions(config, { kvBudgetBytes: budget }).numBlocks).toBe(1000);
    expect(resolveRunnerOptions(config, { kvBudgetBytes: budget, kvDtype: 'f16' }).numBlocks).toBe(2001);
  });

  it('refuses a budget below one full-context sequence with a KvPoolError naming the fix', () => {
    const tooSmall = 127 * F32_BLOCK_BYTES;
    expect(() => resolveRunnerOptions(config, { kvBudgetBytes: tooSmall })).toThrow(KvPoolError);
    expect(() => resolveRunnerOptions(config, { kvBudgetBytes: tooSmall })).toThrow(
      /kvBudgetBytes is too small.*needs 128 blocks.*f16 .*fits/,
    );
  });

  it('rejects a budget that is not a positive number', () => {
    expect(() => resolveRunnerOptions(config, { kvBudgetBytes: 0 })).toThrow(/kvBudgetBytes/);
    expect(() => resolveRunnerOptions(config, { kvBudgetBytes: -1 })).toThrow(/kvBudgetBytes/);
    expect(() => resolveRunnerOptions(config, { maxModelLen: 4096 })).toThrow(/beyond the model's context of 2048/);
  });

  it('sizes the default pool and the smallest budget for maxModelLen, not the model context', () => {
    const o = resolveRunnerOptions(config, { maxModelLen: 512 });
    expect(o.config.contextLength).toBe(512);
    expect(o.numBlocks).toBe(2 * (512 / 16));
    const perBlock = 2 * config.numLayers * kvLayerBlockBytes(config, 16, 'f32');
    expect(resolveRunnerOptions(config, { maxModelLen: 512, kvBudgetBytes: 40 * perBlock }).numBlocks).toBe(40);
  });

  it('lays one layer block out as blockSize x kvHeads x headDim elements', () => {
    expect(kvLayerBlockBytes(config, 16, 'f32')).toBe(16 * 4 * 64 * 4);
    expect(kvLayerBlockBytes(config, 16, 'f16')).toBe(16 * 4 * 64 * 2);
  });
});
