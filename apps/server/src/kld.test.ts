import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticLlamaGguf } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

const stories = modelFile('stories260K.gguf');

interface KldJson {
  meanKld: number;
  medianKld: number;
  p99Kld: number;
  maxKld: number;
  sameTop: number;
  pplBase: number;
  pplQuant: number;
  pplRatio: number;
  tokens: number;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llm-kld-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// Small enough for a shared 2-core machine: two windows of 128 tokens, 63 scored in each.
const text = ['--generate', '256', '--context', '128', '--backend', 'cpu', '--json'];

async function kld(base: string, quant: string, extra: readonly string[] = []): Promise<KldJson> {
  const run = await runLlm(['kld', '--base', base, '--quant', quant, ...text, ...extra]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as KldJson;
}

async function quantize(type: string): Promise<string> {
  const path = join(dir, `stories260K-${type}.gguf`);
  const run = await runLlm(['quantize', stories!, path, '--type', type]);
  expect(run.code, run.stderr).toBe(0);
  return path;
}

describe.skipIf(!stories)('llm kld on stories260K', () => {
  it('finds no divergence and full top-1 agreement between a model and itself', async () => {
    const r = await kld(stories!, stories!);
    expect(r.tokens).toBe(126);
    expect(r.meanKld).toBe(0);
    expect(r.maxKld).toBe(0);
    expect(r.sameTop).toBe(1);
    expect(r.pplRatio).toBe(1);
    expect(r.pplBase).toBe(r.pplQuant);
  });

  it('measures W8A8 (--w8a8) against the same file as stored: a small divergence', async () => {
    const calibration = join(dir, 'calibration.txt');
    await writeFile(
      calibration,
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her mom. One day, she saw a big red ball under a tree.',
    );
    const run = await runLlm([
      'kld', '--base', stories!, '--quant', stories!, '--generate', '256', '--context', '128', '--backend', 'webgpu', '--json',
      '--w8a8', calibration,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout) as KldJson;
    expect(r.meanKld).toBeGreaterThan(0);
    expect(r.meanKld).toBeLessThan(0.01);
    expect(r.sameTop).toBeGreaterThan(0.9);
  });

  it('finds a small divergence for q8_0 and a larger one for q4_0', async () => {
    const [q8, q4] = [await kld(stories!, await quantize('q8_0')), await kld(stories!, await quantize('q4_0'))];
    expect(q8.meanKld).toBeGreaterThan(0);
    expect(q8.meanKld).toBeLessThan(0.01);
    expect(q8.sameTop).toBeGreaterThan(0.95);
    expect(q4.meanKld).toBeGreaterThan(q8.meanKld);
    expect(q4.meanKld).toBeLessThan(0.5);
    for (const r of [q8, q4]) {
      expect(r.medianKld).toBeLessThanOrEqual(r.p99Kld);
      expect(r.p99Kld).toBeLessThanOrEqual(r.maxKld);
      // Both models score the base model's text: the same base perplexity.
      expect(r.pplBase).toBeCloseTo(q8.pplBase, 9);
      expect(r.pplRatio).toBeCloseTo(r.pplQuant / r.pplBase, 9);
    }
  });

  it('measures int8 activations (--activations int8) on q4_0: close to the float path, not the same', async () => {
    const q4 = await quantize('q4_0');
    const onGpu = async (activations: string): Promise<KldJson> => {
      const run = await runLlm([
        'kld', '--base', stories!, '--quant', q4, '--generate', '256', '--context', '128', '--backend', 'webgpu', '--json',
        '--activations', activations,
      ]);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as KldJson;
    };
    const [float, int8] = [await onGpu('f32'), await onGpu('int8')];
    expect(int8.meanKld).not.toBe(float.meanKld);
    expect(Math.abs(int8.meanKld - float.meanKld)).toBeLessThan(0.1 * float.meanKld);
    expect(int8.pplBase).toBe(float.pplBase);
  });

  it('measures the KV cache alone with --kv-dtype: f16 below i8 below i4', async () => {
    const [f16, i8, i4] = [
      await kld(stories!, stories!, ['--kv-dtype', 'f16']),
      await kld(stories!, stories!, ['--kv-dtype', 'i8']),
      await kld(stories!, stories!, ['--kv-dtype', 'i4']),
    ];
    expect(f16.meanKld).toBeGreaterThan(0);
    expect(i8.meanKld).toBeGreaterThan(f16.meanKld);
    expect(i8.meanKld).toBeLessThan(0.01);
    expect(i8.sameTop).toBeGreaterThan(0.9);
    // 4 bits in groups of 4 values on heads 8 wide: far below int8 on this small model (README).
    expect(i4.meanKld).toBeGreaterThan(i8.meanKld);
    expect(i4.meanKld).toBeLessThan(1);
    expect(i4.sameTop).toBeGreaterThan(0.5);
  });

  it('refuses models with different vocabularies', async () => {
    // The synthetic tokenizer has 512 tokens too, but other texts.
    const other = join(dir, 'other-vocab.gguf');
    await writeSyntheticLlamaGguf(other, { preset: 'tiny', dtype: 'f32', seed: 3 });
    const run = await runLlm(['kld', '--base', stories!, '--quant', other, ...text]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--base and --quant have different vocabularies: token \d+ is/);
    expect(run.stdout).toBe('');
  });

  it('refuses a missing --quant with exit code 2', async () => {
    const run = await runLlm(['kld', '--base', stories!, ...text]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--quant/);
  });
});
