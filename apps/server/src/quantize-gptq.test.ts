import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPeer } from '@llm/llama-cpp-peer';
import { openGguf } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

const stories = modelFile('stories260K.gguf');

interface QuantizeJson {
  type: string;
  method: string;
  tensors: { name: string; type: string; shape: number[]; method?: string }[];
}

interface KldJson {
  meanKld: number;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llm-gptq-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// Small enough for a shared 2-core machine: 2048 calibration tokens the model generates from
// seeds 1000.. (quantize's defaults), scored on 512 other tokens from seeds 1.. (kld's default):
// four windows of 128, 252 tokens scored. Fewer calibration tokens leave GPTQ's gain within the
// noise of so few scored tokens.
const calibration = ['--backend', 'cpu'];
const scored = ['--generate', '512', '--context', '128', '--backend', 'cpu', '--json'];

async function quantize(type: string, ...extra: string[]): Promise<{ path: string; json: QuantizeJson; stderr: string }> {
  const path = join(dir, `stories260K-${type}${extra.join('').replace(/\W/g, '')}.gguf`);
  const run = await runLlm(['quantize', stories!, path, '--type', type, '--json', ...extra]);
  expect(run.code, run.stderr).toBe(0);
  return { path, json: JSON.parse(run.stdout) as QuantizeJson, stderr: run.stderr };
}

async function kld(quant: string): Promise<KldJson> {
  const run = await runLlm(['kld', '--base', stories!, '--quant', quant, ...scored]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as KldJson;
}

describe.skipIf(!stories)('llm quantize --method gptq on stories260K', () => {
  it('diverges less from the F32 model than round to nearest at q4_0, in a file llama.cpp loads', async () => {
    const rtn = await quantize('q4_0');
    const gptq = await quantize('q4_0', '--method', 'gptq', ...calibration);
    expect(gptq.json.method).toBe('gptq');
    expect(gptq.stderr).toMatch(/GPTQ over 2048 calibration tokens \(4 sequences\)/);
    // Every q4_0 matrix and the q8_0 output projection by GPTQ; the token embedding rounded to nearest.
    const methods = new Map(gptq.json.tensors.map((t) => [t.name, t.method]));
    expect(methods.get('blk.0.attn_q.weight')).toBe('gptq');
    expect(methods.get('blk.4.ffn_up.weight')).toBe('gptq');
    expect(methods.get('output.weight')).toBe('gptq');
    expect(methods.get('token_embd.weight')).toBe('rtn');
    expect(gptq.json.tensors.map((t) => t.type)).toEqual(rtn.json.tensors.map((t) => t.type));
    expect((await stat(gptq.path)).size).toBe((await stat(rtn.path)).size);

    const [r, g] = [await kld(rtn.path), await kld(gptq.path)];
    expect(g.meanKld).toBeGreaterThan(0);
    expect(g.meanKld).toBeLessThan(r.meanKld);

    const peer = await openPeer(gptq.path, { contextSize: 128, threads: 1 });
    try {
      const tokens = await peer.greedy([peer.bosId!], 8);
      expect(tokens.length).toBeGreaterThan(0);
      for (const id of tokens) expect(id).toBeLessThan(peer.vocabSize);
    } finally {
      await peer.close();
    }
    // Two quantizations, 2048 generated tokens and two kld runs on the CPU: minutes on a busy machine.
  }, 480_000);

  it('calibrates on a text file, all layers on the original model, with every scale chosen up front', async () => {
    const text = join(dir, 'calibration.txt');
    await writeFile(
      text,
      'Once upon a time, there was a little dog named Max. Max liked to run in the big green park with his friend Sue. ' +
        'One day, they found a shiny red ball under a tree. Sue said, "Let us share it!" Max wagged his tail and they played all day.\n',
    );
    const { path, json, stderr } = await quantize('q4_1', '--method', 'gptq', '--calibration', text, '--group-size', '0', '--layer-inputs', 'original');
    expect(stderr).toMatch(/GPTQ over \d+ calibration tokens \(1 sequences\)/);
    expect(json.tensors.find((t) => t.name === 'blk.2.attn_v.weight')).toMatchObject({ type: 'q4_1', method: 'gptq' });
    const file = await openGguf(path);
    expect(file.get('general.file_type')).toEqual({ type: 'u32', value: 3 });
    await file.close();
  });
});

describe.skipIf(!stories)('llm quantize refuses GPTQ options it cannot use, with one line', () => {
  async function expectRefusal(args: string[], pattern: RegExp): Promise<void> {
    const out = join(dir, 'refused.gguf');
    const run = await runLlm(['quantize', stories!, out, ...args]);
    expect(run.code, run.stderr).toBe(2);
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(run.stdout).toBe('');
    await expect(stat(out)).rejects.toThrow();
  }

  it('GPTQ flags without --method gptq', async () => {
    await expectRefusal(['--type', 'q4_0', '--calibration-tokens', '64'], /--calibration-tokens applies to --method gptq only/);
    await expectRefusal(['--type', 'q4_0', '--damp', '0.1'], /--damp applies to --method gptq only/);
  });

  it('a mix whose matrices GPTQ does not write', async () => {
    await expectRefusal(['--type', 'q6_k', '--method', 'gptq'], /--method gptq writes q4_0, .*the q6_k mix stores its matrices as q6_k/);
  });

  it('a group size that is not whole blocks, and a missing calibration file', async () => {
    await expectRefusal(['--type', 'q4_0', '--method', 'gptq', '--group-size', '48'], /--group-size must be 0 or a multiple of q4_0's block of 32/);
    await expectRefusal(['--type', 'q4_k_m', '--method', 'gptq', '--group-size', '32'], /multiple of q4_k's block of 256/);
    await expectRefusal(
      ['--type', 'q4_0', '--method', 'gptq', '--calibration', join(dir, 'no-such.txt')],
      /--calibration .*no-such\.txt: no such file/,
    );
    await expectRefusal(['--type', 'q4_0', '--method', 'gptq', '--calibration', dir, '--calibration-tokens', '64', '--seed', '3'], /--seed .* does not apply with --calibration/);
  });
});
