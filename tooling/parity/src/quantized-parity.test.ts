import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { quantizeModel, writeSyntheticLlamaGguf } from '@llm/formats/node';
import { gpuForTests, relativeL2 } from '@llm/kernels/testing';
import { openPeer } from '@llm/llama-cpp-peer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greedyIds, loadModel } from './engine-runs.js';

const gpu = await gpuForTests();
const TOKENS = 32;
const PROMPT = 'the quick brown fox jumps over the lazy dog';

/**
 * Greedy tokens of the WebGPU engine (weights read in place), the CPU reference (f64 sums over
 * the codec-decoded weights) and llama.cpp on one quantized file. llama.cpp quantizes the
 * activations too (Q8_0/Q8_K dot products), so on random weights its greedy path may leave the
 * exact one at a near-tie: the engine must match llama.cpp up to the first token where llama.cpp
 * and the f64 reference part, and that prefix must be long enough to mean something. The
 * engine's logits must match the reference's.
 */
async function checkQuantizedFile(path: string, minAgreement: number): Promise<void> {
  const ours = await loadModel(path, gpu);
  const reference = await loadModel(path, undefined);
  const peer = await openPeer(path, { threads: 1 });
  try {
    const prompt = ours.model.tokenizer.encode(PROMPT, { addSpecial: true });
    expect(prompt).toEqual(peer.tokenize(PROMPT, { addSpecial: true }));
    const llama = await peer.greedy(prompt, TOKENS);
    const exact = await greedyIds(reference, prompt, TOKENS);
    const engine = await greedyIds(ours, prompt, TOKENS);
    let agree = 0;
    while (agree < TOKENS && llama[agree] === exact[agree]) agree++;
    expect(agree, `llama.cpp ${llama.join(' ')}\nf64 ref   ${exact.join(' ')}`).toBeGreaterThanOrEqual(minAgreement);
    expect(engine.slice(0, agree)).toEqual(llama.slice(0, agree));

    const chunk = [{ tokens: prompt, startPos: 0, blockTable: Array.from({ length: 16 }, (_, i) => i) }];
    const gpuLogits = await ours.runner.logits(chunk);
    const cpuLogits = await reference.runner.logits(chunk);
    expect(relativeL2(gpuLogits, cpuLogits)).toBeLessThan(1e-4);
  } finally {
    await peer.close();
    await ours.close();
    await reference.close();
  }
}

describe.skipIf(!gpu)('quantized GGUFs run in place and match llama.cpp and the f64 reference', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-quantized-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Written by an independent tool; every matrix, token_embd and output included, is quantized.
  // llama.cpp (CPU backend, 1 thread) follows the f64 reference for all 32 tokens on Q8_0 and
  // for 8 on Q4_0, where its Q8_0-quantized activations tip a near-tie.
  for (const [type, minAgreement] of [['q8_0', 24], ['q4_0', 8]] as const) {
    const path = modelFile(`synthetic/gqa-d128-${type}.gguf`);
    it.skipIf(!path)(`gqa-d128-${type}.gguf (another writer): greedy tokens as llama.cpp, logits as the f64 reference`, async () => {
      await checkQuantizedFile(path!, minAgreement);
    });
  }

  // Q4_K_M-like and Q5_K_M-like mixes from @llm/quant's reference quantizers: Q6_K output, some
  // V and down projections in Q6_K (Q|K|V of mixed types in one product), a Q8_0 embedding.
  const mixes = {
    'q4_k_m': { matrices: 'q4_k', output: 'q6_k', overrides: { 'blk.1.attn_v.weight': 'q6_k', 'blk.0.ffn_down.weight': 'q6_k' } },
    'q5_k_m': { matrices: 'q5_k', output: 'q6_k', tokenEmbedding: 'q8_0', overrides: { 'blk.0.attn_v.weight': 'q6_k' } },
  } as const;
  for (const [name, quantize] of Object.entries(mixes)) {
    it(`synthetic ${name} (dim 256): greedy tokens as llama.cpp, logits as the f64 reference`, async () => {
      const path = join(dir, `${name}.gguf`);
      await writeSyntheticLlamaGguf(path, {
        dim: 256,
        numHeads: 4,
        numKvHeads: 2,
        hiddenDim: 512,
        numLayers: 2,
        vocabSize: 512,
        contextLength: 256,
        tiedEmbeddings: false,
        seed: 11,
        quantize,
        progress: false,
      });
      // llama.cpp follows the f64 reference for 24 (Q4_K_M) and 32 (Q5_K_M) tokens here.
      await checkQuantizedFile(path, 16);
    });
  }

  // What `llm quantize` writes. stories260K is a trained model, so llama.cpp's greedy path rarely
  // meets a near-tie on it; its rows of 64 and 172 cannot hold K-quants (llama.cpp's fallbacks
  // apply: ffn_down to f16), so the K-quant mix runs on a dim-256 synthetic model, where random
  // weights make llama.cpp leave the f64 path after 4 tokens (measured).
  const stories = modelFile('stories260K.gguf');
  for (const mix of ['q8_0', 'q4_0'] as const) {
    it.skipIf(!stories)(`llm quantize --type ${mix} of stories260K: greedy tokens as llama.cpp, logits as the f64 reference`, async () => {
      const path = join(dir, `stories-${mix}.gguf`);
      const written = await quantizeModel(stories!, path, { mix });
      expect(written.tensors.filter((t) => t.type === mix).length).toBeGreaterThan(10);
      await checkQuantizedFile(path, 24);
    });
  }
  it('llm quantize --type q4_k_m (dim 256): greedy tokens as llama.cpp, logits as the f64 reference', async () => {
    const source = join(dir, 'f32-source.gguf');
    await writeSyntheticLlamaGguf(source, {
      dim: 256,
      numHeads: 4,
      numKvHeads: 2,
      hiddenDim: 512,
      numLayers: 2,
      vocabSize: 512,
      contextLength: 256,
      tiedEmbeddings: false,
      seed: 12,
      progress: false,
    });
    const path = join(dir, 'quantized-q4_k_m.gguf');
    const written = await quantizeModel(source, path, { mix: 'q4_k_m' });
    expect(new Set(written.tensors.map((t) => t.type))).toEqual(new Set(['f32', 'q4_k', 'q6_k']));
    await checkQuantizedFile(path, 4);
  });
});
