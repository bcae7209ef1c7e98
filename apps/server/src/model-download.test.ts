import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeHub, modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

const gguf = modelFile('stories260K.gguf');
const GENERATE = ['--prompt', 'Once upon a time', '--max-tokens', '24', '--temperature', '0', '--backend', 'cpu'];

describe.skipIf(!gguf)('llm generate --model with a Hugging Face reference', () => {
  const hub = new FakeHub();
  let cacheDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    const bytes = await readFile(gguf!);
    hub.repos.set('tiny/stories', {
      commit: 'a'.repeat(40),
      files: new Map([
        ['stories-Q8_0.gguf', bytes],
        ['stories-Q4_K_M.gguf', bytes],
        ['README.md', Buffer.from('# stories\n')],
      ]),
    });
    await hub.start();
    cacheDir = await mkdtemp(join(tmpdir(), 'llm-model-cache-'));
    env = { HF_ENDPOINT: hub.endpoint, LLM_CACHE_DIR: cacheDir };
  });
  afterAll(async () => {
    await hub.stop();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('downloads owner/repo:QUANT into the cache, then generates from the cache offline', async () => {
    const local = await runLlm(['generate', '--model', gguf!, ...GENERATE]);
    expect(local.code).toBe(0);

    const online = await runLlm(['generate', '--model', 'tiny/stories:q8_0', ...GENERATE], undefined, { env });
    expect(online.code, online.stderr).toBe(0);
    expect(online.stdout).toBe(local.stdout);
    expect(online.stderr).toMatch(/tiny\/stories:q8_0: downloaded at .*stories-Q8_0\.gguf/);
    expect(hub.resolveRequests().length).toBeGreaterThan(0);

    await hub.stop();
    const offline = await runLlm(['generate', '--model', 'tiny/stories:q8_0', ...GENERATE], undefined, {
      env: { ...env, HF_HUB_OFFLINE: '1' },
    });
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toBe(local.stdout);
    expect(offline.stderr).toMatch(/cached at/);
  });

  it('exits 2 naming the reference and the quants there are when the quant is unknown', async () => {
    const run = await runLlm(['generate', '--model', 'tiny/stories:Q3_K_S', ...GENERATE], undefined, {
      env: { ...env, HF_HUB_OFFLINE: '1' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/tiny\/stories/);
  });
});
