import type { WeightSource } from '@llm/formats';
import { CpuModelRunner } from './cpu-runner.js';
import type { LinearInputsHook, LinearWeight } from './linear-inputs.js';
import { kvPoolBlockBytes } from './runner-options.js';
import type { SequenceChunk } from './forward-batch.js';

/** KV blocks of 16 tokens: the runner's default block. */
const CALIBRATION_BLOCK = 16;

/**
 * One CPU forward pass (f64 accumulation) over calibration sequences, each a prompt of its own,
 * all in one batch: `hook` sees the inputs of every linear layer before it is applied (see
 * CpuModelRunner.captureLinearInputs). The sequences must be non-empty and within the context.
 */
export async function calibrationPass(
  source: WeightSource,
  sequences: readonly (readonly number[])[],
  hook: LinearInputsHook,
  onTokenEmbedding?: (embedding: LinearWeight) => void,
): Promise<void> {
  const longest = Math.max(...sequences.map((s) => s.length));
  const tokens = sequences.reduce((n, s) => n + s.length, 0);
  const blocks = sequences.reduce((n, s) => n + Math.ceil(s.length / CALIBRATION_BLOCK), 0);
  const runner = await CpuModelRunner.load(source, {
    blockSize: CALIBRATION_BLOCK,
    maxModelLen: longest,
    maxStepTokens: tokens,
    maxSeqs: sequences.length,
    kvBudgetBytes: (blocks + 1) * kvPoolBlockBytes(source.config, CALIBRATION_BLOCK, 'f32'),
  });
  let next = 0;
  const chunks: SequenceChunk[] = sequences.map((ids) => {
    const blockTable = Array.from({ length: Math.ceil(ids.length / CALIBRATION_BLOCK) }, () => next++);
    return { tokens: [...ids], startPos: 0, blockTable };
  });
  try {
    await runner.captureLinearInputs(chunks, hook, onTokenEmbedding);
  } finally {
    runner.dispose();
  }
}
