import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

const stories = modelFile('stories260K.gguf');

interface PplJson {
  perplexity: number;
  stderr: number;
  tokens: number;
  windows: number;
  context: number;
  backend: string;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llm-ppl-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function ppl(...args: string[]): Promise<PplJson> {
  const run = await runLlm(['ppl', '--model', stories!, '--json', ...args]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as PplJson;
}

describe.skipIf(!stories)('llm ppl on stories260K', () => {
  it('scores the second half of each window of its own text, the same on webgpu and cpu', async () => {
    const [gpu, cpu] = [
      await ppl('--generate', '256', '--context', '128', '--backend', 'webgpu'),
      await ppl('--generate', '256', '--context', '128', '--backend', 'cpu'),
    ];
    expect(gpu.backend).toBe('webgpu');
    expect(cpu.backend).toBe('cpu');
    // Two windows of 128 tokens, 128 - 1 - 64 scored in each.
    expect(cpu).toMatchObject({ windows: 2, context: 128, tokens: 126 });
    expect(Math.abs(gpu.perplexity - cpu.perplexity) / cpu.perplexity).toBeLessThan(1e-4);
    // Its own text at temperature 1: far below the 512 of a uniform guess, above certainty.
    expect(cpu.perplexity).toBeGreaterThan(1.5);
    expect(cpu.perplexity).toBeLessThan(30);
    expect(cpu.stderr).toBeGreaterThan(0);
    expect(cpu.stderr).toBeLessThan(cpu.perplexity);
  });

  it('scores a text file, tokenized with BOS first', async () => {
    const path = join(dir, 'story.txt');
    const story = 'Once upon a time, there was a little girl named Lily. She loved to play in the park with her ball. ';
    await writeFile(path, story.repeat(6));
    const run = await runLlm(['ppl', '--model', stories!, '--text-file', path, '--context', '64', '--backend', 'cpu']);
    expect(run.code, run.stderr).toBe(0);
    const m = /^PPL = ([\d.]+) \+\/- ([\d.]+) \((\d+) tokens\)\n$/.exec(run.stdout);
    expect(m, run.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(1);
    // A story the model has seen the like of, repeated: easier than its own sampled text.
    expect(Number(m![1])).toBeLessThan(10);
    expect(run.stderr).toMatch(/window 1\/\d+: PPL/);
  });

  it.each([
    [['--generate', '256', '--text-file', 'x.txt'], /either --text-file or --generate/],
    [[], /nothing to score: give --text-file FILE or --generate N/],
    [['--generate', '100', '--context', '64'], /needs at least 128 tokens .* has 100/],
    [['--generate', '256', '--context', '4096'], /--context 4096 is beyond the model's context of 2048/],
    [['--text-file', '/nonexistent/text.txt'], /--text-file \/nonexistent\/text.txt: no such file/],
    [['--generate', '256', '--context', '2'], /--context/],
  ])('refuses bad input %j with exit code 2', async (args, message) => {
    const run = await runLlm(['ppl', '--model', stories!, '--backend', 'cpu', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });
});
