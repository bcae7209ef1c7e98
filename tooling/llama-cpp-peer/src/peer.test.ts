import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaCppPeerError, PeerInputError, openPeer, type Peer } from './index.js';

const stories = modelFile('stories260K.gguf');

// The models README's known output: llama2.c's run.c, greedy from BOS alone, 256 tokens.
const KNOWN_STORY = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.',
  `Lily's mom said, "Lily, let's go to the park." Lily was sad and didn't know what to do. She said, "I want to play with your ball, but I can't find it."`,
  `Lily was sad and didn't know what to do. She said, "I'm sorry, Lily. I didn't know what to do."`,
  `Lily didn't want to help her mom, so she said, "I'm sorry, mom. I didn't know what to do." Her mom said, "Don't worry, Lily. We can help you.`,
].join('\n');

describe.skipIf(stories === undefined)('llama.cpp peer on stories260K', () => {
  let peer: Peer;
  // One thread: this model's decode step takes ~0.3 ms, less than the hand-off between two threads.
  beforeAll(async () => {
    peer = await openPeer(stories!, { contextSize: 512, threads: 1 });
  });
  afterAll(async () => {
    await peer?.close();
  });

  it('reports the vocabulary and special tokens of the GGUF file', () => {
    expect(peer.vocabSize).toBe(512);
    expect(peer.bosId).toBe(1);
    expect(peer.eosId).toBe(2);
    expect(peer.contextSize).toBeGreaterThanOrEqual(512);
  });

  it('greedy from BOS reproduces the published 256-token story', async () => {
    const ids = await peer.greedy([1], 256);
    expect(ids).toHaveLength(256);
    expect(peer.detokenize(ids)).toBe(KNOWN_STORY);
  });

  it('greedy is deterministic and starts each call from an empty cache', async () => {
    const first = await peer.greedy([1], 40);
    await peer.greedy([1, 400, 401, 402], 10);
    expect(await peer.greedy([1], 40)).toEqual(first);
  });

  it('greedy continues a prompt longer than 200 tokens', async () => {
    const story = await peer.greedy([1], 230);
    const prompt = [1, ...story.slice(0, 220)];
    const continuation = await peer.greedy(prompt, 10);
    expect(continuation).toEqual(story.slice(220, 230));
  });

  it('stops at maxTokens and returns nothing for maxTokens 0', async () => {
    expect(await peer.greedy([1], 3)).toHaveLength(3);
    expect(await peer.greedy([1], 0)).toEqual([]);
  });

  it('tokenizes without and with special tokens, leaving special-token text as text', () => {
    const plain = peer.tokenize('Once upon a time', { addSpecial: false });
    expect(plain.length).toBeGreaterThan(0);
    expect(plain).not.toContain(1);
    expect(peer.tokenize('Once upon a time', { addSpecial: true })).toEqual([1, ...plain]);
    expect(peer.detokenize(plain)).toBe('Once upon a time');
    expect(peer.tokenize('<s></s>', { addSpecial: false })).not.toContain(1);
    expect(peer.tokenize('<s></s>', { addSpecial: false })).not.toContain(2);
    expect(peer.tokenize('', { addSpecial: false })).toEqual([]);
    expect(peer.tokenize('', { addSpecial: true })).toEqual([1]);
  });

  it('tokenizes the story it generated back into text that detokenizes to the same story', () => {
    const text = KNOWN_STORY;
    expect(peer.detokenize(peer.tokenize(text, { addSpecial: false }))).toBe(text);
  });

  it('returns next-token logits whose argmax is the greedy choice', async () => {
    const story = await peer.greedy([1], 20);
    const logits = await peer.logits([1, ...story.slice(0, 10)]);
    expect(logits).toHaveLength(512);
    expect(logits.every(Number.isFinite)).toBe(true);
    let argmax = 0;
    logits.forEach((logit, id) => {
      if (logit > logits[argmax]!) argmax = id;
    });
    expect(argmax).toBe(story[10]);
  });

  it('measures a positive batch-1 decode speed', async () => {
    const tokensPerSecond = await peer.decodeTokensPerSecond([1, 403, 407], 32, { threads: 1 });
    expect(tokensPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(tokensPerSecond)).toBe(true);
  });

  it('rejects token ids outside the vocabulary, empty prompts and prompts beyond the context', async () => {
    expect(() => peer.greedy([1, 512], 4)).toThrow(PeerInputError);
    expect(() => peer.greedy([1, -1], 4)).toThrow(PeerInputError);
    expect(() => peer.greedy([1.5], 4)).toThrow(PeerInputError);
    expect(() => peer.greedy([], 4)).toThrow(PeerInputError);
    expect(() => peer.greedy([1], peer.contextSize)).toThrow(PeerInputError);
    expect(() => peer.detokenize([9999])).toThrow(PeerInputError);
    expect(await peer.greedy([1], 2)).toHaveLength(2);
  });
});

const synthetic = modelFile('synthetic/gqa-d128-f32.gguf');

describe.skipIf(synthetic === undefined)('llama.cpp peer on random weights', () => {
  // Second tokens after which greedy decoding reached EOS within 20 tokens on this machine;
  // random weights have near-ties, so the test asks only that most of them do.
  const prompts = [88, 175, 288, 325, 345].map((token) => [1, token]);

  it('stops right after an end-of-generation token and includes it', async () => {
    const peer = await openPeer(synthetic!, { contextSize: 256, threads: 1 });
    try {
      const outputs = await Promise.all(prompts.map((prompt) => peer.greedy(prompt, 64)));
      for (const ids of outputs) {
        const eos = ids.indexOf(peer.eosId!);
        expect(eos === -1 || eos === ids.length - 1).toBe(true);
      }
      expect(outputs.filter((ids) => ids.at(-1) === peer.eosId).length).toBeGreaterThanOrEqual(3);
    } finally {
      await peer.close();
    }
  });
});

describe('opening a peer', () => {
  it('rejects a missing model file with a PeerInputError', async () => {
    await expect(openPeer('/nonexistent/model.gguf')).rejects.toThrow(PeerInputError);
  });

  it.skipIf(stories === undefined)(
    'rejects a file that is not GGUF with the reason llama.cpp gives',
    async () => {
      const notGguf = modelFile('README.md')!;
      await expect(openPeer(notGguf)).rejects.toThrow(LlamaCppPeerError);
    },
  );

  it('rejects bad options before loading anything', async () => {
    await expect(openPeer('/nonexistent/model.gguf', { threads: 0 })).rejects.toThrow(/threads/);
    await expect(openPeer('/nonexistent/model.gguf', { contextSize: -1 })).rejects.toThrow(/contextSize/);
  });
});

describe.skipIf(stories === undefined)('llama.cpp peer KV cache on stories260K', () => {
  let peer: Peer;
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'llama-cpp-peer-'));
    peer = await openPeer(stories!, { contextSize: 256, threads: 1 });
  });
  afterAll(async () => {
    await peer?.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('refuses to decode from an empty cache', async () => {
    expect(peer.cachedTokens).toBe(0);
    await expect(peer.decodeTokensPerSecondFromCache(4)).rejects.toThrow(PeerInputError);
  });

  it('prefills a prompt, timed, leaving exactly the prompt in the cache', async () => {
    const timing = await peer.prefill([1, 403, 407, 261, 378]);
    expect(timing.seconds).toBeGreaterThan(0);
    expect(timing.tokensPerSecond).toBeCloseTo(5 / timing.seconds);
    expect(peer.cachedTokens).toBe(5);
  });

  it('decodes from the cache and erases what it decoded, so every call starts from the same context', async () => {
    await peer.prefill([1, 403, 407]);
    expect(await peer.decodeTokensPerSecondFromCache(16)).toBeGreaterThan(0);
    expect(peer.cachedTokens).toBe(3);
    expect(await peer.decodeTokensPerSecondFromCache(16)).toBeGreaterThan(0);
    expect(peer.cachedTokens).toBe(3);
    await expect(peer.decodeTokensPerSecondFromCache(peer.contextSize)).rejects.toThrow(/context/);
  });

  it('saves the cache and loads it into another peer of the same model', async () => {
    const prompt = [1, ...(await peer.greedy([1], 30))];
    await peer.prefill(prompt);
    const path = join(cacheDir, 'story.state');
    await peer.saveCache(path);
    const other = await openPeer(stories!, { contextSize: 256, threads: 1 });
    try {
      await other.loadCache(path);
      expect(other.cachedTokens).toBe(prompt.length);
      expect(await other.decodeTokensPerSecondFromCache(4)).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });

  it('refuses a cache that is missing or was saved for another model', async () => {
    await expect(async () => peer.loadCache(join(cacheDir, 'missing.state'))).rejects.toThrow(
      /no saved cache/,
    );
    await peer.prefill([1, 403]);
    const path = join(cacheDir, 'other.state');
    await peer.saveCache(path);
    const description = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as Record<string, unknown>;
    writeFileSync(`${path}.json`, JSON.stringify({ ...description, modelBytes: 1 }));
    await expect(async () => peer.loadCache(path)).rejects.toThrow(PeerInputError);
  });
});
