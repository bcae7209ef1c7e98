import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuForTests, relativeL2 } from '@llm/kernels/testing';
import { openPeer } from '@llm/llama-cpp-peer';
import { CpuModelRunner, type SequenceChunk } from '@llm/model';
import { llama31RopeFactors, type SyntheticLlamaOptions, type WeightSource } from '@llm/formats';
import { writeSyntheticLlamaGguf } from '@llm/formats/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greedyIds, loadModel } from './engine-runs.js';

const gpu = await gpuForTests();

/** The engine's view of a file with one feature of the variant ignored. */
type Ablation = (source: WeightSource) => WeightSource;

const withoutTensors = (source: WeightSource, drop: (name: string) => boolean): WeightSource => ({
  ...source,
  tensors: new Map([...source.tensors].filter(([name]) => !drop(name))),
});
const withoutBiases: Ablation = (source) => ({
  ...withoutTensors(source, (name) => name.endsWith('.bias')),
  config: { ...source.config, qkvBias: false },
});
const adjacentRope: Ablation = (source) => ({
  ...source,
  config: { ...source.config, ropeLayout: 'adjacent' },
});
const withoutFreqFactors: Ablation = (source) =>
  withoutTensors(source, (name) => name === 'rope_freqs.weight');
const withoutScaling: Ablation = (source) => ({
  ...source,
  config: { ...source.config, ropeScaling: { type: 'none', factor: 1 } },
});

interface Variant {
  readonly options: SyntheticLlamaOptions;
  /** Each must move the engine's logits away from llama.cpp's: proof the file exercises the feature. */
  readonly ablations: Readonly<Record<string, Ablation>>;
}

// Llama 3.1's schedule with its 8192-token original context shrunk to 64, so that the divisors
// (1 for the 5 highest of 64 frequencies, 8 from the 13th on, blended between) turn the angles
// within the test's 63 positions by amounts the logits show.
const shortLlama3Factors = { ...llama31RopeFactors, originalContextLength: 64 };

const VARIANTS: Record<string, Variant> = {
  'qwen2 gqa tied': {
    options: {
      architecture: 'qwen2',
      dim: 192,
      numHeads: 6,
      numKvHeads: 2,
      hiddenDim: 260,
      ropeTheta: 1e6,
      tiedEmbeddings: true,
    },
    ablations: { 'without Q/K/V biases': withoutBiases, 'with adjacent-pair RoPE': adjacentRope },
  },
  'qwen2 mqa linear x4': {
    options: {
      architecture: 'qwen2',
      dim: 256,
      numHeads: 4,
      numKvHeads: 1,
      hiddenDim: 330,
      ropeTheta: 1e6,
      ropeScaling: { type: 'linear', factor: 4 },
    },
    ablations: { 'without Q/K/V biases': withoutBiases, 'without linear scaling': withoutScaling },
  },
  'llama3 rope freqs': {
    options: {
      dim: 192,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 128,
      hiddenDim: 300,
      ropeTheta: 500000,
      ropeFreqFactors: shortLlama3Factors,
    },
    ablations: { 'without rope_freqs': withoutFreqFactors },
  },
  'llama linear x4': {
    options: { dim: 128, numHeads: 4, numKvHeads: 4, hiddenDim: 200, ropeScaling: { type: 'linear', factor: 4 } },
    ablations: { 'without linear scaling': withoutScaling },
  },
};
const DTYPES = ['f32', 'f16'] as const;
const PROMPT = 'the quick brown fox jumps over the lazy dog';

describe.skipIf(!gpu)('Llama-family variants match llama.cpp and the CPU reference', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-variants-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, variant] of Object.entries(VARIANTS)) {
    for (const dtype of DTYPES) {
      it(`${name} ${dtype}: 32 greedy tokens as llama.cpp, WebGPU logits as the CPU reference, the feature matters`, async () => {
        const path = join(dir, `${name.replaceAll(' ', '-')}-${dtype}.gguf`);
        await writeSyntheticLlamaGguf(path, {
          ...variant.options,
          numLayers: 2,
          vocabSize: 512,
          contextLength: 256,
          dtype,
          seed: 7,
          progress: false,
        });
        const ours = await loadModel(path, gpu);
        const reference = await loadModel(path, undefined);
        const peer = await openPeer(path, { threads: 1 });
        try {
          const prompt = ours.model.tokenizer.encode(PROMPT, { addSpecial: true });
          expect(prompt).toEqual(peer.tokenize(PROMPT, { addSpecial: true }));
          const expected = await peer.greedy(prompt, 32);
          expect(await greedyIds(ours, prompt, 32)).toEqual(expected);
          // A run that falls into a one- or two-token loop at once would check little.
          expect(new Set(expected).size).toBeGreaterThanOrEqual(6);

          const chunk: SequenceChunk[] = [
            { tokens: prompt, startPos: 0, blockTable: Array.from({ length: 16 }, (_, i) => i) },
          ];
          const gpuLogits = await ours.runner.logits(chunk);
          const cpuLogits = await reference.runner.logits(chunk);
          expect(relativeL2(gpuLogits, cpuLogits)).toBeLessThan(1e-4);

          // llama.cpp keeps its KV cache in f16, hence a few 1e-4 between it and the f64 reference;
          // a runner that ignores the variant's feature lands at 0.1 or more.
          const peerLogits = await peer.logits(prompt);
          expect(relativeL2(cpuLogits, peerLogits)).toBeLessThan(2e-3);
          for (const [what, ablate] of Object.entries(variant.ablations)) {
            const ablated = await CpuModelRunner.load(ablate(ours.model.source));
            try {
              expect(relativeL2(await ablated.logits(chunk), peerLogits), what).toBeGreaterThan(0.05);
            } finally {
              ablated.dispose();
            }
          }
        } finally {
          await peer.close();
          await ours.close();
          await reference.close();
        }
      });
    }
  }
});
