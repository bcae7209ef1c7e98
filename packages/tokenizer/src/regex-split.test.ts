import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { byteLevelDecode } from './byte-level-alphabet.js';
import { PRE_TOKENIZERS } from './pre-tokenizers.js';
import { PreTokenizer } from './regex-split.js';

const split = (pre: string, text: string): string[] => {
  const entry = PRE_TOKENIZERS.get(pre)!;
  const words = new PreTokenizer(entry.type).split(text);
  return entry.type.byteEncode
    ? words.map((w) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(byteLevelDecode(w)))
    : words;
};

const textUnit = fc.oneof(
  fc.constantFrom(
    ' ',
    '  ',
    '\n',
    '\r\n',
    '\t',
    '\u00a0',
    '\u3000',
    '\ufeff',
    '\u0085',
    '\u2028',
    "'",
    "'s",
    "'LL",
    "'Re",
    'a',
    'Hello',
    'WORLD',
    'camelCase',
  ),
  fc.constantFrom(
    '1',
    '23',
    '4567',
    '.',
    ',',
    '?!',
    '(',
    '$',
    '/',
    'é',
    'e\u0301',
    'Ñ',
    'ǅ',
    '中文',
    '한국',
    'カナ',
    '🦙',
    '٣',
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 2 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const anyText = fc.string({ unit: textUnit, maxLength: 24 });

describe('pre-tokenizers', () => {
  it.each([...PRE_TOKENIZERS.keys()])('%s splits any text into words that concatenate back to it', (name) => {
    fc.assert(
      fc.property(anyText, (text) => {
        const words = split(name, text);
        for (const w of words) expect(w.length).toBeGreaterThan(0);
        expect(words.join('')).toBe(text);
      }),
      { numRuns: 60 },
    );
  });

  it('GPT-2: contractions, letters, digits and punctuation with one optional leading space', () => {
    expect(split('gpt-2', "Hello world's 123 ...ok  \n")).toEqual([
      'Hello',
      ' world',
      "'s",
      ' 123',
      ' ...',
      'ok',
      '  \n',
    ]);
    // Case-sensitive contractions in GPT-2's pattern.
    expect(split('gpt-2', "I'M")).toEqual(['I', "'", 'M']);
  });

  it('Llama 3: case-insensitive contractions, digits in threes, newlines kept with preceding spaces', () => {
    expect(split('llama-bpe', "I'M here")).toEqual(['I', "'M", ' here']);
    expect(split('llama-bpe', '1234567')).toEqual(['123', '456', '7']);
    expect(split('llama-bpe', 'a \n\n  b')).toEqual(['a', ' \n\n', ' ', ' b']);
    expect(split('llama-bpe', '$hello')).toEqual(['$hello']);
  });

  it('matches the Llama 3 expression run by a Unicode regex engine (property)', () => {
    // llama.cpp's hand-written splitter stands for this expression; \s is White_Space there.
    const ws = String.raw`\p{White_Space}`;
    const llama3 = new RegExp(
      String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^${ws}\p{L}\p{N}]+[\r\n]*|[${ws}]*[\r\n]+|[${ws}]+(?![^${ws}])|[${ws}]+`,
      'gu',
    );
    fc.assert(
      fc.property(anyText, (text) => {
        const viaRegex = [...text.matchAll(llama3)].map((m) => m[0]);
        expect(split('llama-bpe', text)).toEqual(viaRegex);
      }),
      { numRuns: 300 },
    );
  });

  it("Qwen 2: single digits, runs its expression on llama.cpp's collapsed category text", () => {
    expect(split('qwen2', 'abc 123')).toEqual(['abc', ' ', '1', '2', '3']);
    expect(split('qwen2', 'naïve café')).toEqual(['naïve', ' café']);
  });

  it('DeepSeek coder and LLM: CJK runs and newlines split out first', () => {
    expect(split('deepseek-coder', 'hi 中文\nx1')).toEqual(['hi', ' ', '中文', '\n', 'x', '1']);
    expect(split('deepseek-llm', 'Hello, 世界 42')).toEqual(['Hello', ',', ' ', '世界', ' ', '42']);
  });

  it('SuperBPE: digit runs grouped in threes from the right by a lookahead', () => {
    expect(split('superbpe', '1234567 x')).toEqual(['1', '234', '567', ' x']);
  });

  it('Tekken: camel case splits at capitals; non-ASCII letters count as both cases', () => {
    expect(split('tekken', 'HelloWorld')).toEqual(['Hello', 'World']);
    expect(split('tekken', 'ÀÉÈ éà')).toEqual(['ÀÉÈ', ' éà']);
  });

  it('Kimi-K2: Han runs apart from other letters', () => {
    expect(split('kimi-k2', "abc中文def's 12345")).toEqual(['abc', '中文', "def's", ' ', '123', '45']);
  });

  it('AFMoE: digit runs grouped in threes, the remainder first', () => {
    expect(split('afmoe', '1234567')).toEqual(['1', '234', '567']);
  });

  it('BLOOM: words are runs of anything but whitespace and a few punctuation marks', () => {
    expect(split('bloom', 'Hello, world! 你好。')).toEqual(['Hello', ',', ' world', '!', ' 你好', '。']);
  });

  it('Gemma 4: only newline runs split; words stay raw UTF-8', () => {
    expect(split('gemma4', 'a b\n\nc')).toEqual(['a b', '\n\n', 'c']);
  });
});
