import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuForTests } from '@llm/kernels/testing';
import { openPeer, type Peer } from '@llm/llama-cpp-peer';
import { convertModel } from '@llm/formats/node';
import { modelFile, STORY_PROMPTS as PROMPTS } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchedGreedyIds, greedyIds, loadModel, type LoadedModel } from './engine-runs.js';

const gguf = modelFile('stories260K.gguf');
const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const gpu = await gpuForTests();

describe.skipIf(!gguf || !bin || !tok || !gpu)('stories260K matches llama.cpp token for token', () => {
  let dir: string;
  let peer: Peer;
  let convertedPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-parity-'));
    convertedPath = join(dir, 'stories260K-converted.gguf');
    await convertModel(bin!, convertedPath, { type: 'f32', tokenizerPath: tok! });
    peer = await openPeer(gguf!, { threads: 1 });
  });
  afterAll(async () => {
    await peer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const which of ['llama.cpp GGUF', 'converted from llama2.c'] as const) {
    it(
      `generates llama.cpp's greedy ids for ${PROMPTS.length} prompts x 64 tokens (${which})`,
      { timeout: 600_000 },
      async () => {
        const ours: LoadedModel = await loadModel(which === 'llama.cpp GGUF' ? gguf! : convertedPath, gpu);
        try {
          let longest = 0;
          for (const prompt of PROMPTS) {
            const ids = ours.model.tokenizer.encode(prompt, { addSpecial: true });
            expect(ids).toEqual(peer.tokenize(prompt, { addSpecial: true }));
            longest = Math.max(longest, ids.length);
            const expected = await peer.greedy(ids, 64);
            const actual = await greedyIds(ours, ids, 64);
            expect(actual, `prompt ${JSON.stringify(prompt.slice(0, 40))}`).toEqual(expected);
          }
          expect(longest).toBeGreaterThan(200);
        } finally {
          await ours.close();
        }
      },
    );
  }

  // f16: the KV cache type llama.cpp keeps by default.
  it.each(['f32', 'f16'] as const)(
    'generates the same ids for all prompts batched in one step (ragged prefill, then batched decode), %s KV cache',
    { timeout: 600_000 },
    async (kvDtype) => {
      const ours = await loadModel(gguf!, gpu, undefined, { kvDtype });
      try {
        const prompts = PROMPTS.map((p) => ours.model.tokenizer.encode(p, { addSpecial: true }));
        const batched = await batchedGreedyIds(ours.runner, prompts, 32, ours.model.tokenizer.eogIds);
        for (const [i, prompt] of prompts.entries()) {
          expect(batched[i], `prompt ${i}`).toEqual(await peer.greedy(prompt, 32));
        }
      } finally {
        await ours.close();
      }
    },
  );
});
