import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openGguf } from '@llm/formats/node';
import { readLlama2cTokenizer } from '@llm/formats/node';
import { type Llama2cTokenizer } from '@llm/formats';
import { modelFile } from '@llm/formats/testing';
import { tokenizerFromGguf } from './gguf-tokenizer.js';
import { tokenizerFromLlama2c } from './llama2c-vocabulary.js';
import { InvalidVocabularyError } from './tokenizer-errors.js';

const tok512Path = modelFile('tok512.bin');
const llama2Path = modelFile('llama2/tokenizer.bin');

/**
 * llama2.c run.c's encode(), transcribed as an independent reference: dummy " " token, per
 * character lookup with byte fallback (+3), then repeatedly merge the best-scoring adjacent pair.
 */
function runcEncode(file: Llama2cTokenizer, text: string, bos: boolean): number[] {
  const lookup = new Map(file.tokens.map((t, i) => [t, i] as const));
  const ids: number[] = bos ? [1] : [];
  if (text !== '') ids.push(lookup.get(' ')!);
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = bos ? 1 : 0; i + 1 < ids.length; i++) {
      const id = lookup.get(file.tokens[ids[i]!]! + file.tokens[ids[i + 1]!]!);
      if (id !== undefined && file.scores[id]! > best) {
        best = file.scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) return ids;
    ids.splice(bestIdx, 2, bestId);
  }
}

const textUnit = fc.oneof(
  fc.constantFrom(
    ' ',
    '  ',
    '\n',
    '\t',
    "'",
    'Once',
    ' upon',
    'Lily',
    '1',
    '42',
    '.',
    ',',
    '!',
    'é',
    '🦙',
    '中',
    '\u00a0',
    'ß',
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
// U+2581 is SentencePiece's space: it decodes as " " and cannot round-trip.
const spmText = fc.string({ unit: textUnit, maxLength: 24 }).filter((s) => !s.includes('\u2581'));

describe.skipIf(tok512Path === undefined)('tok512.bin (stories260K tokenizer)', () => {
  const load = async () => {
    const file = await readLlama2cTokenizer(tok512Path!);
    return { file, tokenizer: tokenizerFromLlama2c(file) };
  };

  it('reads the vocabulary as llama.cpp would: <unk> 0, BOS 1, EOS 2, byte tokens', async () => {
    const { tokenizer: t } = await load();
    expect(t.vocabSize).toBe(512);
    expect([t.bosId, t.eosId, t.addBos, t.addEos, t.addSpacePrefix]).toEqual([1, 2, true, false, true]);
    expect([...t.eogIds]).toEqual([2]);
    expect(t.tokenText(1)).toBe('<s>');
    expect(t.tokenText(3 + 0x0a)).toBe('<0x0A>');
  });

  it('decodes known ids: byte tokens, hidden control tokens, pieces with spaces', async () => {
    const { tokenizer: t } = await load();
    expect(t.decode([3 + 0x0a])).toBe('\n');
    expect(t.decode([1, 2])).toBe('');
    expect(t.decode([1, 2], { renderSpecial: true })).toBe('<s></s>');
    // "🦙" is F0 9F A6 99: four byte tokens.
    expect(t.decode([3 + 0xf0, 3 + 0x9f, 3 + 0xa6, 3 + 0x99])).toBe('🦙');
    const once = t.tokenId('▁Once');
    expect(once).toBeDefined();
    expect(t.decode([once!])).toBe('Once');
    expect(t.decode([once!], { stripLeadingSpace: false })).toBe(' Once');
  });

  it('encodes with BOS and the dummy prefix, and decodes back without the leading space', async () => {
    const { file, tokenizer: t } = await load();
    for (const text of [
      'Once upon a time, there was a little girl named Lily.',
      'Lily\'s mom said, "Lily, let\'s go to the park."\nShe was sad.',
      'héllo ☃ 🦙 数字 123',
      '  two leading spaces',
    ]) {
      const ids = t.encode(text);
      expect(ids[0]).toBe(1);
      expect(ids).toEqual(runcEncode(file, text, true));
      expect(t.decode(ids)).toBe(text);
      // Generated tokens alone (after a BOS prompt) decode without the dummy space too.
      expect(t.decode(ids.slice(1), { previousId: 1 })).toBe(text);
    }
  });

  it('keeps the leading space of a continuation that does not follow BOS', async () => {
    const { tokenizer: t } = await load();
    const prompt = t.encode('Once upon a');
    const continuation = t.encode(' time', { addSpecial: false }).slice(0);
    const last = prompt[prompt.length - 1]!;
    expect(t.decode(continuation, { previousId: last })).toMatch(/^ +time$/);
  });

  it('streams text deltas that never split a UTF-8 character', async () => {
    const { tokenizer: t } = await load();
    const text = 'Lily saw 🦙 and 数 ☃.';
    const ids = t.encode(text);
    const decoder = t.createStreamDecoder();
    const deltas = ids.map((id) => decoder.push(id));
    expect(deltas.join('') + decoder.flush()).toBe(text);
    for (const d of deltas) expect(d).not.toContain('\uFFFD');
    // The four byte tokens of the llama arrive as three empty deltas and then the character.
    const llama = [0xf0, 0x9f, 0xa6, 0x99].map((b) => b + 3);
    const s = t.createStreamDecoder();
    expect(llama.map((id) => s.push(id))).toEqual(['', '', '', '🦙']);
    expect(s.push(3 + 0xf0)).toBe('');
    expect(s.flush()).toBe('\uFFFD');
  });

  it('matches run.c encode() on random text (property)', async () => {
    const { file, tokenizer: t } = await load();
    fc.assert(
      fc.property(spmText, (text) => {
        expect(t.encode(text)).toEqual(runcEncode(file, text, true));
        expect(t.decode(t.encode(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it.skipIf(modelFile('stories260K.gguf') === undefined)(
    'reads the same vocabulary as its GGUF conversion (stories260K.gguf): texts, types, scores',
    async () => {
      const { tokenizer: fromBin } = await load();
      const file = await openGguf(modelFile('stories260K.gguf')!);
      const fromGguf = tokenizerFromGguf(file.metadata);
      await file.close();
      expect(fromGguf.vocabulary.tokens).toEqual(fromBin.vocabulary.tokens);
      expect(fromGguf.vocabulary.attrs).toEqual(fromBin.vocabulary.attrs);
      expect(fromGguf.vocabulary.scores).toEqual(fromBin.vocabulary.scores);
      expect([...fromGguf.eogIds]).toEqual([...fromBin.eogIds]);
    },
  );

  it('rejects a vocabulary whose score table does not match its tokens', () => {
    expect(() => tokenizerFromLlama2c({ tokens: ['<unk>', '<s>', '</s>', 'a'], scores: [0, 0, 0] })).toThrow(
      InvalidVocabularyError,
    );
    expect(() => tokenizerFromLlama2c({ tokens: ['<unk>'], scores: [0] })).toThrow(InvalidVocabularyError);
  });
});

describe.skipIf(llama2Path === undefined)('llama2/tokenizer.bin (Llama 2, 32000 tokens)', () => {
  it('gives the same ids as llama.cpp on the llama-spm test vectors', async () => {
    const t = tokenizerFromLlama2c(await readLlama2cTokenizer(llama2Path!));
    const inp = modelFile('vocab/ggml-vocab-llama-spm.gguf.inp');
    const out = modelFile('vocab/ggml-vocab-llama-spm.gguf.out');
    if (inp === undefined || out === undefined) return;
    const texts = readFileSync(inp, 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1);
    const lines = readFileSync(out, 'utf8').split('\n');
    expect(texts.length).toBe(46);
    texts.forEach((text, i) => {
      const line = lines[i]!.trim();
      expect(t.encode(text, { addSpecial: false })).toEqual(line === '' ? [] : line.split(' ').map(Number));
    });
  });

  it('matches run.c encode() on random text (property)', async () => {
    const file = await readLlama2cTokenizer(llama2Path!);
    const t = tokenizerFromLlama2c(file);
    fc.assert(
      fc.property(spmText, (text) => {
        expect(t.encode(text)).toEqual(runcEncode(file, text, true));
      }),
      { numRuns: 100 },
    );
  });
});
