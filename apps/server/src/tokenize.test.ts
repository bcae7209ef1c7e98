import { modelFile } from '@llm/formats/testing';
import { readVocabVectors, VOCABS_WITH_VECTORS } from '@llm/tokenizer/testing';
import { describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

describe('llm tokenize reproduces llama.cpp on every test vector', () => {
  for (const name of VOCABS_WITH_VECTORS) {
    const gguf = modelFile(`vocab/ggml-vocab-${name}.gguf`);
    const inp = modelFile(`vocab/ggml-vocab-${name}.gguf.inp`);
    const out = modelFile(`vocab/ggml-vocab-${name}.gguf.out`);
    it.skipIf(!gguf || !inp || !out)(`${name}`, async () => {
      const vectors = readVocabVectors(inp!, out!);
      const stdin = vectors.map((v) => JSON.stringify(v.text)).join('\n') + '\n';
      const run = await runLlm(['tokenize', '--model', gguf!], stdin);
      expect(run.code, run.stderr).toBe(0);
      const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as number[]);
      expect(lines).toEqual(vectors.map((v) => v.ids));
    });
  }

  it('adds BOS with --add-special on a SentencePiece vocabulary', async () => {
    const gguf = modelFile('vocab/ggml-vocab-llama-spm.gguf');
    if (!gguf) return;
    const run = await runLlm(['tokenize', '--model', gguf, '--add-special'], '"Hello"\n');
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as number[])[0]).toBe(1);
  });

  it('refuses a line that is not a JSON string with exit code 2', async () => {
    const gguf = modelFile('vocab/ggml-vocab-gpt-2.gguf');
    if (!gguf) return;
    const run = await runLlm(['tokenize', '--model', gguf], 'not json\n');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/line 1/);
  });
});
