import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGgufWeightSource, writeSyntheticLlamaGguf } from '@llm/formats/node';
import { gpuForTests, randomBlocks, relativeL2, seededRandom } from '@llm/kernels/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuModelRunner } from './cpu-runner.js';
import { GpuModelRunner } from './gpu-runner.js';
import { interleaveHalves, matrixF32, readMatrix, stackRows, stackRuns, type HostMatrix } from './load-weights.js';

const gpu = await gpuForTests();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quantized-weights-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function blockMatrix(dtype: 'q4_k' | 'q6_k' | 'q8_0', rows: number, cols: number, seed: number): HostMatrix {
  return { rows, cols, dtype, data: randomBlocks(dtype, rows * cols, seededRandom(seed), 'quantized') };
}

describe('block-quantized host matrices', () => {
  it('stack and interleave as whole rows of blocks, the values unchanged', () => {
    const a = blockMatrix('q4_k', 3, 256, 1);
    const b = blockMatrix('q4_k', 3, 256, 2);
    const stacked = stackRows([a, b]);
    expect(stacked.dtype).toBe('q4_k');
    const want = new Float32Array([...matrixF32(a), ...matrixF32(b)]);
    expect(matrixF32(stacked)).toEqual(want);
    const pairs = interleaveHalves(stacked);
    const got = matrixF32(pairs);
    for (let i = 0; i < 3; i++) {
      expect(got.subarray(2 * i * 256, (2 * i + 1) * 256)).toEqual(want.subarray(i * 256, (i + 1) * 256));
      expect(got.subarray((2 * i + 1) * 256, (2 * i + 2) * 256)).toEqual(want.subarray((3 + i) * 256, (4 + i) * 256));
    }
  });

  it('keep each type of a mixed Q|K|V stack in its own run, and decode a mixed stack for the CPU', () => {
    const q = blockMatrix('q4_k', 4, 256, 3);
    const k = blockMatrix('q4_k', 2, 256, 4);
    const v = blockMatrix('q6_k', 2, 256, 5);
    const runs = stackRuns([q, k, v]);
    expect(runs.map((r) => [r.dtype, r.rows])).toEqual([
      ['q4_k', 6],
      ['q6_k', 2],
    ]);
    const mixed = stackRows([q, k, v]);
    expect(mixed.dtype).toBe('f32');
    expect(mixed.data).toEqual(new Float32Array([...matrixF32(q), ...matrixF32(k), ...matrixF32(v)]));
  });
});

/** A small GQA Llama: 2 layers, vocabulary 300. */
const SMALL_SHAPE = { dim: 256, numHeads: 4, numKvHeads: 2, hiddenDim: 512, numLayers: 2, vocabSize: 300, contextLength: 128 };

describe.skipIf(!gpu)('runners on block-quantized files', () => {
  it('read a mixed K-quant file in place on the GPU with the CPU reference logits', async () => {
    const path = join(dir, 'mixed.gguf');
    await writeSyntheticLlamaGguf(path, {
      ...SMALL_SHAPE,
      tiedEmbeddings: true,
      seed: 5,
      // A tied Q4_K embedding serves as the LM head; layer 1's V is Q6_K (Q|K|V of two types) and
      // its up projection Q8_0 (gate and up of two types: decoded at load, see the README).
      quantize: { matrices: 'q4_k', overrides: { 'blk.1.attn_v.weight': 'q6_k', 'blk.1.ffn_up.weight': 'q8_0', 'ffn_down.weight': 'q5_k' } },
      progress: false,
    });
    const source = await openGgufWeightSource(path);
    try {
      const embd = await readMatrix(source, 'token_embd.weight');
      expect(embd.dtype).toBe('q4_k');
      expect(embd.data).toBeInstanceOf(Uint8Array);
      const ours = await GpuModelRunner.load(gpu!, source, { maxSeqs: 2, maxModelLen: 128 });
      const reference = await CpuModelRunner.load(source, { maxSeqs: 2, maxModelLen: 128 });
      try {
        const chunk = [{ tokens: [1, 40, 77, 260, 5, 299, 12], startPos: 0, blockTable: [0, 1, 2, 3, 4, 5, 6, 7] }];
        const got = await ours.logits(chunk);
        const want = await reference.logits(chunk);
        expect(relativeL2(got, want)).toBeLessThan(1e-4);
      } finally {
        ours.dispose();
        reference.dispose();
      }
    } finally {
      await source.close();
    }
  });

  it('run Q4_0 products on int8 activations: the CPU reference logits within int8 rounding, a token alone as batched', async () => {
    const path = join(dir, 'q4_0.gguf');
    await writeSyntheticLlamaGguf(path, {
      ...SMALL_SHAPE,
      seed: 9,
      // A Q4_0 LM head of its own (int8 activations) beside a Q4_0 embedding (the float layout),
      // and one layer's V in Q8_0: a Q|K|V of two types stays on the float path.
      quantize: { matrices: 'q4_0', overrides: { 'blk.1.attn_v.weight': 'q8_0' } },
      progress: false,
    });
    const source = await openGgufWeightSource(path);
    try {
      const int8 = await GpuModelRunner.load(gpu!, source, { maxSeqs: 2, maxModelLen: 128, activations: 'int8' });
      const float = await GpuModelRunner.load(gpu!, source, { maxSeqs: 2, maxModelLen: 128 });
      const reference = await CpuModelRunner.load(source, { maxSeqs: 2, maxModelLen: 128 });
      try {
        const chunk = { tokens: [1, 40, 77, 260, 5, 299, 12], startPos: 0, blockTable: [0, 1, 2, 3, 4, 5, 6, 7] };
        const want = await reference.logits([chunk]);
        const got = await int8.logits([chunk]);
        const floatErr = relativeL2(await float.logits([chunk]), want);
        const int8Err = relativeL2(got, want);
        // Int8 activations move the logits (and so differ from the float path) but stay close.
        expect(floatErr).toBeLessThan(1e-4);
        expect(int8Err).toBeGreaterThan(floatErr);
        expect(int8Err).toBeLessThan(3e-2);
        // The last token's logits alone (its context cached by the first run) as in the batch.
        const alone = await int8.logits([{ tokens: [12], startPos: 6, blockTable: chunk.blockTable }]);
        expect(Array.from(alone)).toEqual(Array.from(got));
        // As a decode (attention quantizing the output projection's input itself), alone and
        // beside another sequence's decode.
        const other = [8, 9, 10, 11, 12, 13, 14, 15];
        const decode = (blockTable: number[]) => ({ tokens: [12], startPos: 6, blockTable, prefill: false });
        const decoded = await int8.logits([decode(chunk.blockTable)]);
        expect(relativeL2(decoded, want)).toBeLessThan(3e-2);
        await int8.logits([{ ...chunk, blockTable: other }]);
        const pair = await int8.logits([decode(chunk.blockTable), decode(other)]);
        expect(Array.from(pair.subarray(0, decoded.length))).toEqual(Array.from(decoded));
        expect(Array.from(pair.subarray(decoded.length))).toEqual(Array.from(decoded));
      } finally {
        int8.dispose();
        float.dispose();
        reference.dispose();
      }
    } finally {
      await source.close();
    }
  });
});
