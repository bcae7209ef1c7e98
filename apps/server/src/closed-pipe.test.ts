import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const vocab = modelFile('vocab/ggml-vocab-gpt-2.gguf');

describe('llm writing into a pipe whose reader has gone (| head)', () => {
  it.skipIf(!bin || !tok)('generate ends quietly with exit code 0', async () => {
    const run = await runLlm(
      ['generate', '--model', bin!, '--tokenizer', tok!, '--max-tokens', '256', '--temperature', '0', '--backend', 'cpu'],
      undefined,
      { closeStdoutEarly: true },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/EPIPE|error|\n\s+at /i);
  });

  it.skipIf(!vocab)('tokenize ends quietly with exit code 0', async () => {
    const stdin = '"hello world"\n'.repeat(20000);
    const run = await runLlm(['tokenize', '--model', vocab!], stdin, { closeStdoutEarly: true });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
  });
});
