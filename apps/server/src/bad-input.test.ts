import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm, type LlmRun } from './run-llm.test-support.js';

const gguf = modelFile('stories260K.gguf');
const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const llama2Tok = modelFile('llama2/tokenizer.bin');

/** Exit code 2 and one line on stderr that names the problem, never a stack trace. */
function expectCleanRefusal(run: LlmRun, pattern: RegExp): void {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('llm '));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stdout).toBe('');
}

describe.skipIf(!gguf || !bin || !tok || !llama2Tok)('llm refuses bad input with a typed one-line error', () => {
  let dir: string;
  let ggufBytes: Buffer;
  let binBytes: Buffer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-bad-input-'));
    ggufBytes = await readFile(gguf!);
    binBytes = await readFile(bin!);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const generate = (model: string, ...extra: string[]) =>
    runLlm(['generate', '--model', model, '--max-tokens', '4', '--temperature', '0', '--backend', 'cpu', ...extra]);

  it('a truncated GGUF file', async () => {
    const path = join(dir, 'truncated.gguf');
    await writeFile(path, ggufBytes.subarray(0, 5000));
    expectCleanRefusal(await generate(path), /truncated\.gguf/);
  });

  it('a GGUF header claiming more metadata than the file holds', async () => {
    const path = join(dir, 'oversized.gguf');
    const bytes = Buffer.from(ggufBytes);
    bytes.writeBigUInt64LE(0xffffffffffn, 16); // metadata key/value count
    await writeFile(path, bytes);
    expectCleanRefusal(await generate(path), /oversized\.gguf/);
  });

  it('a GGUF file with corrupt tensor offsets', async () => {
    const path = join(dir, 'corrupt.gguf');
    await writeFile(path, ggufBytes.subarray(0, ggufBytes.length - 4096));
    expectCleanRefusal(await generate(path), /corrupt\.gguf/);
  });

  it('a truncated llama2.c checkpoint', async () => {
    const path = join(dir, 'truncated.bin');
    await writeFile(path, binBytes.subarray(0, binBytes.length / 2));
    expectCleanRefusal(await generate(path, '--tokenizer', tok!), /truncated\.bin/);
  });

  it('a llama2.c checkpoint with a nonsense header', async () => {
    const path = join(dir, 'header.bin');
    const bytes = Buffer.from(binBytes);
    bytes.writeInt32LE(-7, 0);
    await writeFile(path, bytes);
    expectCleanRefusal(await generate(path, '--tokenizer', tok!), /header\.bin/);
  });

  it('a Hugging Face folder whose safetensors header is oversized', async () => {
    const hf = join(dir, 'hf');
    const convert = await runLlm(['convert', bin!, hf, '--tokenizer', tok!]);
    expect(convert.code, convert.stderr).toBe(0);
    const weights = await readFile(join(hf, 'model.safetensors'));
    weights.writeBigUInt64LE(1n << 40n, 0);
    await writeFile(join(hf, 'model.safetensors'), weights);
    expectCleanRefusal(await generate(hf, '--tokenizer', tok!), /safetensors/);
  });

  it('a Hugging Face folder with a config.json that does not parse', async () => {
    const hf = join(dir, 'hf-config');
    await mkdir(hf, { recursive: true });
    await writeFile(join(hf, 'config.json'), '{"hidden_size": ');
    expectCleanRefusal(await generate(hf, '--tokenizer', tok!), /config\.json/);
  });

  it('a tokenizer that does not fit the model', async () => {
    expectCleanRefusal(await generate(bin!, '--tokenizer', llama2Tok!), /vocab|token/i);
  });

  it('a llama2.c checkpoint without a tokenizer', async () => {
    expectCleanRefusal(await generate(bin!), /tokenizer/);
  });

  it('a missing file and an unknown option', async () => {
    expectCleanRefusal(await generate(join(dir, 'nope.gguf')), /nope\.gguf/);
    expectCleanRefusal(await generate(gguf!, '--bogus'), /bogus/);
    expectCleanRefusal(await generate(gguf!, '--kv-dtype', 'bf16'), /--kv-dtype must be f32, f16, i8 or i4/);
  });
});
