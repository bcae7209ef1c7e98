import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { PeerUnavailableError, openPeer, type Peer } from './index.js';

const stories = modelFile('stories260K.gguf');
// CI machines have lavapipe and the Vulkan build installed, so there a Vulkan peer that does not
// open is a failure; elsewhere (no Vulkan binary for the platform, no device) the tests skip.
const vulkanRequired = process.env['CI'] === 'true';

describe.skipIf(stories === undefined)('llama.cpp peer on the Vulkan backend, stories260K', () => {
  let cpu: Peer;
  let vulkan: Peer | undefined;
  let unavailable = '';
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'llama-cpp-peer-'));
    // One thread: this model's decode step is shorter than a hand-off between two threads.
    cpu = await openPeer(stories!, { contextSize: 256, threads: 1 });
    try {
      vulkan = await openPeer(stories!, { contextSize: 256, threads: 1, backend: 'vulkan' });
    } catch (error) {
      if (vulkanRequired || !(error instanceof PeerUnavailableError)) throw error;
      unavailable = error.message;
    }
  });
  afterAll(async () => {
    await vulkan?.close();
    await cpu?.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  function vulkanPeer(context: TestContext): Peer {
    if (vulkan === undefined) context.skip(`no Vulkan peer on this machine: ${unavailable}`);
    return vulkan;
  }

  it('runs on a Vulkan device and names it', (context) => {
    const peer = vulkanPeer(context);
    expect(peer.backend).toBe('vulkan');
    expect(peer.deviceName).not.toBe('');
    expect(peer.deviceName).not.toBe('CPU');
    expect(cpu.deviceName).toBe('CPU');
  });

  // The first evaluation on a machine compiles llama.cpp's Vulkan shaders: about a minute on
  // lavapipe, then Mesa's shader cache makes it a second.
  it("generates the CPU backend's greedy tokens", { timeout: 300_000 }, async (context) => {
    const peer = vulkanPeer(context);
    const prompt = [1, ...cpu.tokenize('Once upon a time', { addSpecial: false })];
    const expected = await cpu.greedy(prompt, 32);
    expect(expected).toHaveLength(32);
    expect(await peer.greedy(prompt, 32)).toEqual(expected);
  });

  it('decodes from a cache the CPU backend filled and leaves it as it was', async (context) => {
    const peer = vulkanPeer(context);
    const prompt = [1, ...(await cpu.greedy([1], 40))];
    await cpu.prefill(prompt);
    const path = join(cacheDir, 'story.state');
    await cpu.saveCache(path);
    await peer.loadCache(path);
    expect(peer.cachedTokens).toBe(prompt.length);
    const tokensPerSecond = await peer.decodeTokensPerSecondFromCache(8);
    expect(tokensPerSecond).toBeGreaterThan(0);
    expect(peer.cachedTokens).toBe(prompt.length);
  });
});
