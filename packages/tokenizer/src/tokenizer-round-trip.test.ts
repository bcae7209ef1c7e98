import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openGguf } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { byteLevelChar } from './byte-level-alphabet.js';
import { tokenizerFromGguf } from './gguf-tokenizer.js';

// Text built from pieces that exercise the splitters (contractions, digit runs, whitespace runs,
// CRLF, combining marks, CJK, emoji, astral and unassigned code points).
const textUnit = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ' ',
      '  ',
      '   ',
      '\n',
      '\r\n',
      '\n\n',
      '\t',
      ' \t ',
      '\u00a0',
      '\u3000',
      '\ufeff',
      '\u0085',
      '\u2028',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "'",
      "'s",
      "'LL",
      "'Re",
      'Hello',
      'world',
      '1',
      '23',
      '4567',
      '.',
      ',',
      '?!',
      '...',
      '(',
      '<',
      '|',
      '$',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'é',
      'e\u0301',
      'ß',
      'Ñ',
      'ǅ',
      'Ω',
      '中文',
      '한국어',
      'カタカナ',
      'нещо',
      '🦙',
      '🚀',
      '😶‍🌫️',
      '٣',
      'Ⅻ',
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 2 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const anyText = fc.string({ unit: textUnit, maxLength: 20 });

const vocabularies: { name: string; spm: boolean }[] = [
  { name: 'llama-spm', spm: true },
  { name: 'phi-3', spm: true },
  { name: 'baichuan', spm: true },
  { name: 'gpt-2', spm: false },
  { name: 'deepseek-coder', spm: false },
  { name: 'mpt', spm: false },
  { name: 'refact', spm: false },
  { name: 'starcoder', spm: false },
  { name: 'gpt-neox', spm: false },
];

describe.each(vocabularies)('decode(encode(text)) === text: ggml-vocab-$name', ({ name, spm }) => {
  const path = modelFile(`vocab/ggml-vocab-${name}.gguf`);

  it.skipIf(path === undefined)('holds for random Unicode text (property)', async () => {
    const file = await openGguf(path!);
    const tokenizer = tokenizerFromGguf(file.metadata);
    await file.close();
    // SentencePiece writes spaces as U+2581, so that character cannot come back as itself.
    // StarCoder's vocabulary lacks the byte-level character of byte F1 (lead byte of the unassigned
    // planes 4-7): llama.cpp drops such bytes, so text using them cannot come back either.
    const missingBytes = new Set<number>();
    if (!spm)
      for (let b = 0; b < 256; b++)
        if (tokenizer.tokenId(byteLevelChar(b)) === undefined) missingBytes.add(b);
    const utf8 = new TextEncoder();
    const text = anyText.filter(
      (s) => !(spm && s.includes('\u2581')) && !utf8.encode(s).some((b) => missingBytes.has(b)),
    );
    fc.assert(
      fc.property(text, fc.boolean(), (s, addSpecial) => {
        const ids = tokenizer.encode(s, { addSpecial });
        for (const id of ids) expect(id).toBeLessThan(tokenizer.vocabSize);
        expect(tokenizer.decode(ids, { cleanUpSpaces: false })).toBe(s);
        const stream = tokenizer.createStreamDecoder();
        expect(ids.map((id) => stream.push(id)).join('') + stream.flush()).toBe(s);
      }),
      { numRuns: 200 },
    );
  });
});
