import { readFileSync } from 'node:fs';
import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';
import { PeerInputError, openPeerTokenizer } from './index.js';

// llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf.inp/.out): strings separated by
// this line, and per string one line of ids tokenized with add_special and parse_special false.
const SEPARATOR = '\n__ggml_vocab_test__\n';

function readSuite(vocab: string): { texts: string[]; ids: number[][] } | undefined {
  const inp = modelFile(`vocab/ggml-vocab-${vocab}.gguf.inp`);
  const out = modelFile(`vocab/ggml-vocab-${vocab}.gguf.out`);
  if (inp === undefined || out === undefined) return undefined;
  const texts = readFileSync(inp, 'utf8').split(SEPARATOR);
  // The file ends with a separator: the last piece is empty and no test.
  texts.pop();
  const ids = readFileSync(out, 'utf8')
    .split('\n')
    .slice(0, texts.length)
    .map((line) => line.trim().split(' ').filter(Boolean).map(Number));
  return { texts, ids };
}

describe.each(['llama-spm', 'gpt-2', 'deepseek-coder', 'bert-bge'])(
  "llama.cpp's %s test vectors",
  (vocab) => {
    const suite = readSuite(vocab);
    const gguf = modelFile(`vocab/ggml-vocab-${vocab}.gguf`);

    it.skipIf(suite === undefined || gguf === undefined)(
      'tokenizes every test string to the recorded ids',
      async () => {
        const tokenizer = await openPeerTokenizer(gguf!);
        try {
          expect(suite!.texts.length).toBeGreaterThan(10);
          const actual = suite!.texts.map((text) => tokenizer.tokenize(text, { addSpecial: false }));
          expect(actual).toEqual(suite!.ids);
        } finally {
          await tokenizer.close();
        }
      },
    );
  },
);

describe('a vocabulary-only tokenizer', () => {
  const gguf = modelFile('vocab/ggml-vocab-llama-spm.gguf');

  it.skipIf(gguf === undefined)('adds BOS only when asked and round-trips text', async () => {
    const tokenizer = await openPeerTokenizer(gguf!);
    try {
      expect(tokenizer.vocabSize).toBe(32000);
      const plain = tokenizer.tokenize('Hello world', { addSpecial: false });
      expect(tokenizer.tokenize('Hello world', { addSpecial: true })).toEqual([tokenizer.bosId, ...plain]);
      expect(tokenizer.detokenize(plain)).toBe('Hello world');
      expect(() => tokenizer.detokenize([32000])).toThrow(PeerInputError);
    } finally {
      await tokenizer.close();
    }
  });
});
