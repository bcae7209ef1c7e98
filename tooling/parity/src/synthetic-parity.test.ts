import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuForTests, relativeL2 } from '@llm/kernels/testing';
import { openPeer } from '@llm/llama-cpp-peer';
import { writeSyntheticLlamaGguf } from '@llm/formats/node';
import { type SyntheticLlamaOptions } from '@llm/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greedyIds, loadModel } from './engine-runs.js';

const gpu = await gpuForTests();

// MHA, GQA and MQA; head dims 8..256; FFN widths that are not multiples of 64; tied and untied
// outputs; RoPE bases other than 10000; heads * headDim != dim (key_length metadata).
const SHAPES: Record<string, SyntheticLlamaOptions> = {
  'mha-d8': {
    dim: 64,
    numHeads: 8,
    numKvHeads: 8,
    headDim: 8,
    hiddenDim: 100,
    numLayers: 2,
    tiedEmbeddings: false,
  },
  'gqa-d64': {
    dim: 256,
    numHeads: 8,
    numKvHeads: 2,
    headDim: 64,
    hiddenDim: 330,
    numLayers: 2,
    ropeTheta: 500000,
    tiedEmbeddings: false,
  },
  'mqa-d128': {
    dim: 192,
    numHeads: 8,
    numKvHeads: 1,
    headDim: 128,
    hiddenDim: 200,
    numLayers: 2,
    ropeTheta: 1e6,
    tiedEmbeddings: true,
  },
  'gqa-d80': {
    dim: 320,
    numHeads: 8,
    numKvHeads: 4,
    headDim: 80,
    hiddenDim: 460,
    numLayers: 2,
    tiedEmbeddings: false,
  },
  'gqa-d256': {
    dim: 128,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 256,
    hiddenDim: 150,
    numLayers: 2,
    ropeTheta: 20000,
    tiedEmbeddings: false,
  },
};
const DTYPES = ['f32', 'f16'] as const;

describe.skipIf(!gpu)('synthetic models match llama.cpp and the CPU reference', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-synthetic-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Every shape with f32 and f16 weights and an f32 KV cache; two with the f16 KV cache llama.cpp
  // keeps by default (both sides then round the same K/V).
  const cases = [
    ...Object.keys(SHAPES).flatMap((name) =>
      DTYPES.map((dtype) => ({ name, dtype, kvDtype: 'f32' as const })),
    ),
    ...['gqa-d64', 'mqa-d128'].map((name) => ({ name, dtype: 'f16' as const, kvDtype: 'f16' as const })),
  ];
  for (const { name, dtype, kvDtype } of cases) {
    it(`${name} ${dtype}, ${kvDtype} KV cache: 32 greedy tokens as llama.cpp, WebGPU logits as the CPU reference`, async () => {
      const path = join(dir, `${name}-${dtype}.gguf`);
      await writeSyntheticLlamaGguf(path, {
        ...SHAPES[name]!,
        vocabSize: 512,
        contextLength: 256,
        dtype,
        seed: 7,
        progress: false,
      });
      const ours = await loadModel(path, gpu, undefined, { kvDtype });
      const reference = await loadModel(path, undefined, undefined, { kvDtype });
      const peer = await openPeer(path, { threads: 1 });
      try {
        expect(ours.runner.kvDtype).toBe(kvDtype);
        const prompt = ours.model.tokenizer.encode('the quick brown fox jumps over the lazy dog', {
          addSpecial: true,
        });
        expect(prompt).toEqual(
          peer.tokenize('the quick brown fox jumps over the lazy dog', { addSpecial: true }),
        );
        expect(await greedyIds(ours, prompt, 32)).toEqual(await peer.greedy(prompt, 32));

        const chunk = [{ tokens: prompt, startPos: 0, blockTable: Array.from({ length: 16 }, (_, i) => i) }];
        const gpuLogits = await ours.runner.logits(chunk);
        const cpuLogits = await reference.runner.logits(chunk);
        expect(relativeL2(gpuLogits, cpuLogits)).toBeLessThan(1e-4);
      } finally {
        await peer.close();
        await ours.close();
        await reference.close();
      }
    });
  }
});
