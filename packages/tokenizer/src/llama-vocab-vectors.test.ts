import { describe, expect, it } from 'vitest';
import { openGguf } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { readVocabVectors } from '@llm/tokenizer/testing';
import { tokenizerFromGguf } from './gguf-tokenizer.js';
import type { LlamaCppTokenizer } from './llama-tokenizer.js';

const loaded = new Map<string, Promise<LlamaCppTokenizer | undefined>>();

/** Each vocabulary is read once per file: loading the larger merge tables takes a few hundred ms. */
function loadVocab(name: string): Promise<LlamaCppTokenizer | undefined> {
  let tokenizer = loaded.get(name);
  if (tokenizer === undefined) {
    tokenizer = (async () => {
      const path = modelFile(`vocab/ggml-vocab-${name}.gguf`);
      if (path === undefined) return undefined;
      const file = await openGguf(path);
      try {
        return tokenizerFromGguf(file.metadata);
      } finally {
        await file.close();
      }
    })();
    loaded.set(name, tokenizer);
  }
  return tokenizer;
}

const withVectors = [
  'llama-spm',
  'phi-3',
  'gpt-2',
  'deepseek-coder',
  'mpt',
  'refact',
  'starcoder',
  'bert-bge',
];

describe.each(withVectors)('llama.cpp test vectors: ggml-vocab-%s', (name) => {
  const inp = modelFile(`vocab/ggml-vocab-${name}.gguf.inp`);
  const out = modelFile(`vocab/ggml-vocab-${name}.gguf.out`);

  it.skipIf(inp === undefined || out === undefined)(
    'tokenizes every string exactly as llama.cpp (no BOS/EOS, special text not parsed)',
    async () => {
      const tokenizer = (await loadVocab(name))!;
      const vectors = readVocabVectors(inp!, out!);
      expect(vectors.length).toBe(46);
      const failures = vectors
        .map(({ text, ids }) => ({ text, expected: ids, got: tokenizer.encode(text, { addSpecial: false }) }))
        .filter(({ expected, got }) => JSON.stringify(expected) !== JSON.stringify(got));
      expect(failures).toEqual([]);
    },
  );
});

describe('vocabularies without test strings', () => {
  it.skipIf(modelFile('vocab/ggml-vocab-baichuan.gguf') === undefined)(
    'loads baichuan (SentencePiece, 64000 tokens) and round-trips text',
    async () => {
      const t = (await loadVocab('baichuan'))!;
      expect(t.vocabSize).toBe(64000);
      expect(t.vocabulary.kind).toBe('spm');
      expect([t.bosId, t.eosId, t.addBos, t.addEos]).toEqual([1, 2, true, false]);
      expect(t.eogIds.has(2)).toBe(true);
      const text = 'Hello world, 你好世界! 123';
      const ids = t.encode(text);
      expect(ids[0]).toBe(1);
      expect(t.decode(ids)).toBe(text);
    },
  );

  it.skipIf(modelFile('vocab/ggml-vocab-gpt-neox.gguf') === undefined)(
    'loads gpt-neox (no tokenizer.ggml.pre: llama.cpp default pre-tokenizer)',
    async () => {
      const t = (await loadVocab('gpt-neox'))!;
      expect(t.vocabSize).toBe(50432);
      expect(t.vocabulary.preTokenizer?.type.id).toBe('default');
      expect([t.bosId, t.eosId, t.addBos]).toEqual([0, 0, false]);
      const text = 'The quick brown fox   jumps over 1234 lazy dogs!';
      expect(t.decode(t.encode(text))).toBe(text);
    },
  );
});

describe('special tokens and end-of-generation sets', () => {
  it.skipIf(modelFile('vocab/ggml-vocab-phi-3.gguf') === undefined)(
    'marks every Phi-3 end token as end of generation',
    async () => {
      const t = (await loadVocab('phi-3'))!;
      const eog = [...t.eogIds].map((id) => t.tokenText(id)).sort();
      expect(eog).toEqual(['</s>', '<|end|>', '<|endoftext|>'].sort());
      expect(t.eosId).toBe(t.tokenId('<|endoftext|>'));
    },
  );

  it.skipIf(modelFile('vocab/ggml-vocab-phi-3.gguf') === undefined)(
    'parses control-token text only with parseSpecial, and Phi-3 special tokens swallow the whitespace after them',
    async () => {
      const t = (await loadVocab('phi-3'))!;
      const end = t.tokenId('<|end|>')!;
      const user = t.tokenId('<|user|>')!;
      const plain = t.encode('<|user|>\nHi<|end|>', { addSpecial: false });
      expect(plain).not.toContain(user);
      expect(plain).not.toContain(end);
      const parsed = t.encode('<|user|>\nHi<|end|>', { addSpecial: false, parseSpecial: true });
      // rstrip on <|user|> drops the newline; "Hi" after a special token gets the dummy space prefix.
      expect(parsed).toEqual([user, ...t.encode('Hi', { addSpecial: false }), end]);
      // The dummy space is dropped only at the start and after BOS (llama.cpp and run.c), not after other specials.
      expect(t.decode(parsed)).toBe(' Hi');
      expect(t.decode(parsed, { renderSpecial: true })).toBe('<|user|> Hi<|end|>');
    },
  );

  it.skipIf(modelFile('vocab/ggml-vocab-mpt.gguf') === undefined)(
    'matches user-defined tokens (runs of spaces in MPT) even when special text is not parsed',
    async () => {
      const t = (await loadVocab('mpt'))!;
      const spaces = t.tokenId('   ')!;
      expect(t.encode('a   b', { addSpecial: false })).toContain(spaces);
      expect(t.encode('<|endoftext|>', { addSpecial: false })).not.toContain(0);
      expect(t.encode('<|endoftext|>', { addSpecial: false, parseSpecial: true })).toEqual([0]);
    },
  );

  it.skipIf(modelFile('vocab/ggml-vocab-gpt-2.gguf') === undefined)(
    'cleans up tokenization spaces on decode by default for GPT-2, as llama.cpp does',
    async () => {
      const t = (await loadVocab('gpt-2'))!;
      const ids = t.encode("Hello , world ! It 's", { addSpecial: false });
      expect(t.decode(ids)).toBe("Hello, world! It's");
      expect(t.decode(ids, { cleanUpSpaces: false })).toBe("Hello , world ! It 's");
    },
  );
});

describe('long inputs', () => {
  const long = Array.from(
    { length: 4000 },
    (_, i) => `Sentence ${i}: the quick brown fox, naïve café 🦙 jumps.`,
  ).join(' ');

  it.skipIf(modelFile('vocab/ggml-vocab-llama-spm.gguf') === undefined)(
    'encodes ~200k characters with SentencePiece in linear-ish time',
    async () => {
      const t = (await loadVocab('llama-spm'))!;
      const t0 = performance.now();
      const ids = t.encode(long);
      const ms = performance.now() - t0;
      expect(t.decode(ids)).toBe(long);
      // A quadratic merge loop would take minutes here; the bound leaves room for a loaded machine.
      expect(ms).toBeLessThan(10_000);
    },
  );

  it.skipIf(modelFile('vocab/ggml-vocab-gpt-2.gguf') === undefined)(
    'encodes ~200k characters with byte-level BPE, and a 20k-character word without quadratic blow-up',
    async () => {
      const t = (await loadVocab('gpt-2'))!;
      const t0 = performance.now();
      const ids = t.encode(long);
      expect(t.decode(ids, { cleanUpSpaces: false })).toBe(long);
      const word = 'ab'.repeat(10_000);
      expect(t.decode(t.encode(word))).toBe(word);
      expect(performance.now() - t0).toBeLessThan(10_000);
    },
  );
});
