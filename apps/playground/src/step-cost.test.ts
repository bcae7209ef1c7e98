import type { LlamaConfig, TensorInfo } from '@llm/formats';
import { describe, expect, it } from 'vitest';
import { stepCost, stepCostModel } from './step-cost.js';

// stories260K's shape: dim 64, hidden 172, 5 layers, 8 heads of 8, 4 KV heads, vocab 512.
const config: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 512,
  dim: 64,
  hiddenDim: 172,
  numLayers: 5,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  contextLength: 512,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeLayout: 'adjacent',
  ropeScaling: { type: 'none', factor: 1 },
  tiedEmbeddings: true,
  qkvBias: false,
};

function tensor(name: string, shape: number[]): [string, TensorInfo] {
  return [name, { name, dtype: 'f32', shape, byteLength: 4 * shape.reduce((a, b) => a * b, 1) }];
}

const tensors = new Map<string, TensorInfo>([
  tensor('token_embd.weight', [512, 64]),
  ...Array.from({ length: 5 }, (_, l) => [
    tensor(`blk.${l}.attn_q.weight`, [64, 64]),
    tensor(`blk.${l}.attn_k.weight`, [32, 64]),
    tensor(`blk.${l}.attn_v.weight`, [32, 64]),
    tensor(`blk.${l}.attn_output.weight`, [64, 64]),
    tensor(`blk.${l}.ffn_gate.weight`, [172, 64]),
    tensor(`blk.${l}.ffn_up.weight`, [172, 64]),
    tensor(`blk.${l}.ffn_down.weight`, [64, 172]),
  ]).flat(),
]);

describe('stepCost', () => {
  const model = stepCostModel(config, tensors, 4);
  const layerParams = 64 * (64 + 2 * 32) + 64 * 64 + 3 * 64 * 172;

  it('reads every layer weight once per step, so intensity grows with the tokens of a step', () => {
    expect(model.layerWeightBytes).toBe(4 * 5 * layerParams);
    expect(model.headBytes).toBe(4 * 512 * 64);
    const decode = stepCost(model, [{ tokens: 1, contextAfter: 10 }], 1);
    const prefill = stepCost(model, [{ tokens: 100, contextAfter: 100 }], 1);
    expect(prefill.flops / prefill.bytes).toBeGreaterThan(20 * (decode.flops / decode.bytes));
  });

  it('counts a decode token: the matrices, its causal attention over the context and the LM head', () => {
    const { flops, bytes } = stepCost(model, [{ tokens: 1, contextAfter: 10 }], 1);
    // One token at position 9 attends to 10 keys: QK^T and PV, 2 flops each per head dimension.
    const attention = 4 * 8 * 8 * 10;
    expect(flops).toBe(5 * (2 * layerParams + attention) + 2 * 512 * 64);
    // K and V of 4 heads of 8 f32 per token and layer: the 10 cached (read) and the 1 new (written).
    expect(bytes).toBe(model.layerWeightBytes + 5 * (2 * 4 * 8 * 4) * 11 + model.headBytes);
  });

  it('leaves the LM head out of a prefill chunk that samples nothing', () => {
    const chunk = stepCost(model, [{ tokens: 16, contextAfter: 32 }], 0);
    expect(chunk.bytes).toBe(model.layerWeightBytes + 5 * (2 * 4 * 8 * 4) * 48);
    // Positions 16..31 attend to 17..32 keys: 392 in all.
    expect(chunk.flops).toBe(5 * (2 * layerParams * 16 + 4 * 8 * 8 * ((16 * (17 + 32)) / 2)));
  });
});
