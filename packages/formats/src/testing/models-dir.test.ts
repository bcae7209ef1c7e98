import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { modelFile } from './models-dir.js';

describe('modelFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-models-'));
    vi.stubEnv('LLM_MODELS_DIR', dir);
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds a file under $LLM_MODELS_DIR', async () => {
    await writeFile(join(dir, 'here.bin'), '');
    expect(modelFile('here.bin')).toBe(join(dir, 'here.bin'));
  });

  it('says once on stderr which model is missing and how to point at the folder', () => {
    vi.stubEnv('CI', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(modelFile('absent.bin')).toBeUndefined();
    expect(modelFile('absent.bin')).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/^skipped: tests that need absent\.bin: .*absent\.bin not found; set LLM_MODELS_DIR/);
  });

  it('fails under CI=true instead of skipping', () => {
    vi.stubEnv('CI', 'true');
    expect(() => modelFile('absent-in-ci.bin')).toThrow(/absent-in-ci\.bin is missing/);
  });
});
