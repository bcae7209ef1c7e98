import type { LlamaConfig, TensorInfo } from '@llm/formats';

/** What the roofline needs of a model: its shape and the bytes its step reads once per step. */
export interface StepCostModel {
  readonly config: LlamaConfig;
  /** Bytes of every weight a forward pass reads whole (the layers' matrices and norms). */
  readonly layerWeightBytes: number;
  /** Bytes of the LM head, read once per step when any row is sampled. */
  readonly headBytes: number;
  /** Bytes of one cached token's K and V in one layer. */
  readonly kvTokenBytes: number;
}

export function stepCostModel(
  config: LlamaConfig,
  tensors: ReadonlyMap<string, TensorInfo>,
  kvElementBytes: number,
): StepCostModel {
  let layerWeightBytes = 0;
  for (const t of tensors.values()) if (t.name.startsWith('blk.')) layerWeightBytes += t.byteLength;
  const head = tensors.get('output.weight') ?? tensors.get('token_embd.weight');
  return {
    config,
    layerWeightBytes,
    headBytes: head?.byteLength ?? 0,
    kvTokenBytes: 2 * config.numKvHeads * config.headDim * kvElementBytes,
  };
}

/** One sequence's part of a step: `tokens` new tokens ending at context length `contextAfter`. */
export interface SequenceWork {
  readonly tokens: number;
  readonly contextAfter: number;
}

/**
 * Model FLOPs and bytes moved by one step (the roofline's two axes): every weight matrix is read
 * once per step whatever the token count (why decode is memory-bound and a long prefill
 * compute-bound), attention reads each sequence's K/V and writes the new tokens', and the LM head
 * runs for the sampled rows only. Activations are left out: they are small beside the weights.
 */
export function stepCost(model: StepCostModel, work: readonly SequenceWork[], sampledRows: number) {
  const c = model.config;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const layerMatrixParams = c.dim * (qDim + 2 * kvDim) + qDim * c.dim + 3 * c.dim * c.hiddenDim;
  let tokens = 0;
  let attentionFlops = 0;
  let kvBytes = 0;
  for (const { tokens: t, contextAfter } of work) {
    tokens += t;
    // Causal: the new token at position p attends to p + 1 keys; QK^T and PV take 2 flops each per key.
    const first = contextAfter - t + 1;
    const keys = (t * (first + contextAfter)) / 2;
    attentionFlops += 4 * c.numHeads * c.headDim * keys;
    kvBytes += model.kvTokenBytes * (contextAfter + t);
  }
  const flops =
    c.numLayers * (2 * layerMatrixParams * tokens + attentionFlops) + 2 * c.vocabSize * c.dim * sampledRows;
  const bytes = model.layerWeightBytes + c.numLayers * kvBytes + (sampledRows > 0 ? model.headBytes : 0);
  return { flops, bytes };
}
