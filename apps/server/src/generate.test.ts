import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import type { ProfileSummary } from '@llm/kernels';
import { describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

// llama2.c's run.c output for stories260K from BOS, greedy, 256 tokens (shared/models/README.md).
const KNOWN_TEXT = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.',
  'Lily\'s mom said, "Lily, let\'s go to the park." Lily was sad and didn\'t know what to do. She said, "I want to play with your ball, but I can\'t find it."',
  'Lily was sad and didn\'t know what to do. She said, "I\'m sorry, Lily. I didn\'t know what to do."',
  'Lily didn\'t want to help her mom, so she said, "I\'m sorry, mom. I didn\'t know what to do." Her mom said, "Don\'t worry, Lily. We can help you.',
].join('\n');
// The CLI ends text output with a newline; the model's text itself has none.
const KNOWN_OUTPUT = `${KNOWN_TEXT}\n`;

const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');

describe.skipIf(!bin || !tok)('llm generate on stories260K', () => {
  for (const backend of ['webgpu', 'cpu'] as const) {
    it(`prints the known 256-token greedy text on the ${backend} backend`, async () => {
      const run = await runLlm([
        'generate', '--model', bin!, '--tokenizer', tok!, '--max-tokens', '256', '--temperature', '0', '--backend', backend,
      ]);
      expect(run.stderr).not.toMatch(/internal error/);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(KNOWN_OUTPUT);
      // Dawn's own start-up warnings are not for users of the CLI.
      expect(run.stderr).not.toMatch(/artificially reduced/);
    });
  }

  it('prints the known text with an f16 KV cache on the webgpu backend', async () => {
    const run = await runLlm([
      'generate', '--model', bin!, '--tokenizer', tok!, '--max-tokens', '256', '--temperature', '0', '--backend', 'webgpu',
      '--kv-dtype', 'f16',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(KNOWN_OUTPUT);
  });

  it('gives the known text from a Hugging Face folder written by llm convert, with its own tokenizer files (half-split RoPE)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llm-hf-'));
    try {
      const hf = join(dir, 'stories260K-hf');
      const convert = await runLlm(['convert', bin!, hf, '--tokenizer', tok!]);
      expect(convert.code, convert.stderr).toBe(0);
      expect(convert.stderr).not.toMatch(/warning/);
      const info = await runLlm(['info', hf]);
      expect(info.code, info.stderr).toBe(0);
      expect(JSON.parse(info.stdout)).toMatchObject({ format: 'hf' });
      // No --tokenizer: the folder carries tokenizer.model and tokenizer_config.json itself.
      const run = await runLlm([
        'generate', '--model', hf, '--max-tokens', '256', '--temperature', '0', '--backend', 'webgpu',
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe(KNOWN_OUTPUT);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports backend, adapter, tokens and timings with --json', async () => {
    const run = await runLlm([
      'generate', '--model', bin!, '--tokenizer', tok!, '--max-tokens', '16', '--temperature', '0', '--json',
    ]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
    expect(result['backend']).toBe('webgpu');
    expect(result['promptTokenIds']).toEqual([1]);
    expect(result['tokenIds']).toHaveLength(16);
    expect(KNOWN_TEXT.startsWith(result['text'] as string)).toBe(true);
    expect(result['timings']).toMatchObject({ prefillMs: expect.any(Number), decodeTokensPerSecond: expect.any(Number) });
  });

  it('prints per-kernel times per token with --profile, prefill and decode apart, the text unchanged', async () => {
    const args = ['generate', '--model', bin!, '--tokenizer', tok!, '--max-tokens', '16', '--temperature', '0', '--profile'];
    const run = await runLlm(args);
    expect(run.code, run.stderr).toBe(0);
    // Stdout carries the text alone, the same as without --profile.
    expect(run.stdout.endsWith('\n')).toBe(true);
    expect(KNOWN_TEXT.startsWith(run.stdout.slice(0, -1))).toBe(true);
    expect(run.stdout.length).toBeGreaterThan(40);
    expect(run.stderr).toMatch(/^\[llm\] prefill: 1 token, 1 step, \d+ dispatches per step; GPU [\d.]+ ms\/token, wall [\d.]+ ms\/token/m);
    expect(run.stderr).toMatch(/^\[llm\] decode: 15 tokens, 15 steps, \d+ dispatches per step; GPU [\d.]+ ms\/token/m);
    expect(run.stderr).toMatch(/^ {2}kernel +dispatches\/token +ms\/token +share$/m);
    expect(run.stderr).toMatch(/^ {2}matvec-\w+ +\d+\.00 +[\d.]+ +[\d.]+%$/m);
    expect(run.stderr).toMatch(/^ {2}total +\d+\.00 +[\d.]+ +100\.0%$/m);

    const json = await runLlm([...args, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { text: string; profile: Record<'prefill' | 'decode', ProfileSummary> };
    expect(`${result.text}\n`).toBe(run.stdout);
    const { prefill, decode } = result.profile;
    expect(prefill).toMatchObject({ tokens: 1, steps: 1 });
    expect(decode).toMatchObject({ tokens: 15, steps: 15 });
    // One decode step per token: the same dispatches every step.
    expect(decode.dispatchesPerStep.min).toBe(decode.dispatchesPerStep.max);
    expect(decode.dispatchesPerToken).toBe(decode.dispatchesPerStep.max);
    expect(decode.gpuMsPerToken).toBeGreaterThan(0);
    const kinds = decode.kinds.map((k) => k.kind);
    expect(kinds).toEqual(expect.arrayContaining(['rms-norm', 'embedding', 'argmax']));
    expect(kinds.some((k) => k.startsWith('matvec-'))).toBe(true);
    expect(kinds.some((k) => k.includes('attention'))).toBe(true);
    expect(decode.kinds.reduce((sum, k) => sum + k.share, 0)).toBeCloseTo(1, 6);
    expect(decode.kinds.reduce((sum, k) => sum + k.dispatchesPerToken, 0)).toBeCloseTo(decode.dispatchesPerToken, 9);
    for (const k of decode.kinds) expect(k.msPerToken, k.kind).toBeGreaterThan(0);
  });

  it('generates with --w8a8 calibrated on a text file, and refuses a missing file or the cpu backend', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llm-w8a8-'));
    try {
      const text = join(dir, 'calibration.txt');
      await writeFile(text, KNOWN_TEXT);
      const args = ['generate', '--model', bin!, '--tokenizer', tok!, '--prompt', 'Once upon a time', '--max-tokens', '24', '--temperature', '0'];
      const run = await runLlm([...args, '--backend', 'webgpu', '--w8a8', text, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as { tokenIds: number[]; text: string; finishReason: string };
      expect(result.finishReason).toBe('length');
      expect(result.tokenIds).toHaveLength(24);
      // int8 weights and activations on this model still tell its story.
      expect(result.text).toMatch(/^, there was a little girl/);
      const missing = await runLlm([...args, '--backend', 'webgpu', '--w8a8', join(dir, 'absent.txt')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/--w8a8 .*absent\.txt: no such file/);
      const cpu = await runLlm([...args, '--backend', 'cpu', '--w8a8', text]);
      expect(cpu.code).toBe(2);
      expect(cpu.stderr).toMatch(/--w8a8 runs on the webgpu backend/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses --profile on the cpu backend with exit code 2', async () => {
    const run = await runLlm(['generate', '--model', bin!, '--tokenizer', tok!, '--backend', 'cpu', '--profile']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/--profile .*webgpu/);
  });

  it('caps --max-tokens beyond the context with a warning and generates up to the context', async () => {
    const ids = Array.from({ length: 500 }, () => '5').join(',');
    const run = await runLlm([
      'generate', '--model', bin!, '--tokenizer', tok!, '--prompt-ids', ids, '--max-tokens', '100', '--temperature', '0',
      '--backend', 'cpu', '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/warning: --max-tokens 100 is beyond the model's context of 512 tokens .*at most 12/);
    const result = JSON.parse(run.stdout) as { tokenIds: number[]; finishReason: string };
    if (result.finishReason === 'length') expect(result.tokenIds).toHaveLength(12);
    else expect(result.tokenIds.length).toBeLessThanOrEqual(12);
  });

  it('refuses a prompt longer than the context with exit code 2', async () => {
    const ids = Array.from({ length: 600 }, () => '5').join(',');
    const run = await runLlm(['generate', '--model', bin!, '--tokenizer', tok!, '--prompt-ids', ids, '--backend', 'cpu']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/context/);
    expect(run.stderr.trim().split('\n').filter((l) => !l.startsWith('[')).length).toBe(1);
  });
});
