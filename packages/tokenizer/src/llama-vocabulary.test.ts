import { describe, expect, it } from 'vitest';
import { byteLevelChar } from './byte-level-alphabet.js';
import { tokenizerFromGguf } from './gguf-tokenizer.js';
import { loadLlamaVocabulary } from './llama-vocabulary.js';
import { checkTokenizerFitsModel } from './tokenizer-model-fit.js';
import {
  InvalidVocabularyError,
  TokenizerModelMismatchError,
  UnknownPreTokenizerError,
  UnsupportedTokenizerError,
} from './tokenizer-errors.js';

const BYTE_CHARS = Array.from({ length: 256 }, (_, b) => byteLevelChar(b));

/** A small byte-level BPE vocabulary: the 256 byte characters, a few merges, and extra tokens. */
function bpeMetadata(overrides: Record<string, unknown> = {}, extra: { text: string; type: number }[] = []) {
  const merged = ['he', 'll', 'hell', 'hello', 'Ġw', 'or', 'Ġwor', 'ld', 'Ġworld'];
  const tokens = [...BYTE_CHARS, ...merged, ...extra.map((e) => e.text)];
  const types = Int32Array.from(tokens, (_, i) =>
    i < 256 + merged.length ? 1 : extra[i - 256 - merged.length]!.type,
  );
  return new Map<string, unknown>(
    Object.entries({
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'gpt-2',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': types,
      'tokenizer.ggml.merges': ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'l d', 'Ġwor ld'],
      ...overrides,
    }),
  );
}

const NORMAL = 1;
const CONTROL = 3;
const USER_DEFINED = 4;

describe('loading GGUF vocabularies', () => {
  it('merges by rank into whole words and decodes byte-level text', () => {
    const t = tokenizerFromGguf(bpeMetadata());
    const ids = t.encode('hello world!', { addSpecial: false });
    expect(ids.map((id) => t.tokenText(id))).toEqual(['hello', 'Ġworld', '!']);
    expect(t.decode(ids)).toBe('hello world!');
  });

  it('accepts the tagged values of the GGUF reader as well as bare values', () => {
    const bare = bpeMetadata();
    const tagged = new Map(
      [...bare].map(([k, v]) => [k, { type: typeof v === 'string' ? 'string' : 'array', value: v }]),
    );
    expect(tokenizerFromGguf(tagged).encode('hello')).toEqual(tokenizerFromGguf(bare).encode('hello'));
  });

  it('uses llama.cpp defaults: BPE add_bos off unless the pre-tokenizer (llama3) turns it on', () => {
    expect(tokenizerFromGguf(bpeMetadata({ 'tokenizer.ggml.bos_token_id': 0 })).addBos).toBe(false);
    const llama3 = tokenizerFromGguf(
      bpeMetadata({ 'tokenizer.ggml.pre': 'llama-bpe', 'tokenizer.ggml.bos_token_id': 0 }),
    );
    expect(llama3.addBos).toBe(true);
    expect(llama3.encode('hello')).toEqual([0, llama3.tokenId('hello')]);
    const off = tokenizerFromGguf(
      bpeMetadata({
        'tokenizer.ggml.pre': 'llama-bpe',
        'tokenizer.ggml.bos_token_id': 0,
        'tokenizer.ggml.add_bos_token': false,
      }),
    );
    expect(off.addBos).toBe(false);
  });

  it('collects every end-of-generation token the way llama.cpp does', () => {
    const t = tokenizerFromGguf(
      bpeMetadata({ 'tokenizer.ggml.eos_token_id': 265 }, [
        { text: '<|endoftext|>', type: CONTROL },
        { text: '<|im_start|>', type: CONTROL },
        { text: '<|im_end|>', type: CONTROL },
        { text: '<|eot_id|>', type: USER_DEFINED },
        { text: '<|fim_pad|>', type: CONTROL },
      ]),
    );
    const eog = [...t.eogIds].map((id) => t.tokenText(id)).sort();
    expect(eog).toEqual(['<|endoftext|>', '<|eot_id|>', '<|fim_pad|>', '<|im_end|>'].sort());
    expect(t.eosId).toBe(265);
    // An end token stored as user-defined becomes a control token: hidden on decode.
    expect(t.decode([t.tokenId('<|eot_id|>')!])).toBe('');
  });

  it('stops at every end-of-turn text llama.cpp knows, whatever the file says the token is', () => {
    const ends = [
      '<|eot_id|>',
      '<|eom_id|>',
      '<|im_end|>',
      '<|end|>',
      '<end_of_turn>',
      '<|endoftext|>',
      '<|end_of_text|>',
      '<EOT>',
      '_<EOT>',
      '[EOT]',
      '<｜end▁of▁sentence｜>',
      '<end_of_utterance>',
      '</s>',
      '<eos>',
    ];
    const others = ['<|im_start|>', '<|start_header_id|>', '<start_of_turn>'];
    const t = tokenizerFromGguf(
      bpeMetadata(
        { 'tokenizer.ggml.eos_token_id': 5 },
        [...ends, ...others].map((text, i) => ({ text, type: i % 2 === 0 ? NORMAL : CONTROL })),
      ),
    );
    const eog = [...t.eogIds].map((id) => t.tokenText(id)!);
    expect(eog.sort()).toEqual([...ends, t.tokenText(5)!].sort());
    // Each is a control token, so special-token parsing matches it as one id.
    for (const text of ends)
      expect(t.encode(text, { addSpecial: false, parseSpecial: true })).toEqual([t.tokenId(text)]);
  });

  it('drops <|end|> from the end-of-generation set for gpt-oss style vocabularies', () => {
    const t = tokenizerFromGguf(
      bpeMetadata(
        { 'tokenizer.ggml.eos_token_id': 265 },
        ['<|return|>', '<|call|>', '<|end|>', '<|start|>', '<|channel|>'].map((text) => ({
          text,
          type: CONTROL,
        })),
      ),
    );
    const eog = [...t.eogIds].map((id) => t.tokenText(id)).sort();
    expect(eog).toEqual(['<|call|>', '<|return|>']);
    // <|channel|> and <|end|> are always rendered.
    expect(t.decode([t.tokenId('<|channel|>')!, t.tokenId('<|end|>')!])).toBe('<|channel|><|end|>');
  });

  it('emits whole words that are tokens when the pre-tokenizer ignores merges (Llama 3)', () => {
    const meta = bpeMetadata({ 'tokenizer.ggml.pre': 'llama-bpe', 'tokenizer.ggml.merges': [] });
    const t = tokenizerFromGguf(meta);
    expect(t.encode('hello', { addSpecial: false })).toEqual([t.tokenId('hello')]);
    // Without merges a word that is not a token falls apart into bytes.
    expect(t.encode('hel', { addSpecial: false })).toEqual(['h', 'e', 'l'].map((c) => t.tokenId(c)));
  });
});

describe('vocabulary errors', () => {
  it('names a missing token list', () => {
    const meta = bpeMetadata();
    meta.delete('tokenizer.ggml.tokens');
    expect(() => loadLlamaVocabulary(meta)).toThrow(InvalidVocabularyError);
    expect(() => loadLlamaVocabulary(meta)).toThrow(/tokenizer\.ggml\.tokens is missing/);
    expect(() => loadLlamaVocabulary(new Map())).toThrow(/tokenizer\.ggml\.model is missing/);
  });

  it('lists the supported pre-tokenizers for an unknown tokenizer.ggml.pre', () => {
    const err = (() => {
      try {
        loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.pre': 'my-new-model' }));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UnknownPreTokenizerError);
    const e = err as UnknownPreTokenizerError;
    expect(e.value).toBe('my-new-model');
    expect(e.supported).toEqual(
      expect.arrayContaining(['llama-bpe', 'qwen2', 'deepseek-v3', 'gpt-4o', 'tekken', 'kimi-k2']),
    );
    expect(e.message).toContain("'my-new-model'");
  });

  it('rejects merges that name tokens outside the vocabulary, or that have no separator', () => {
    expect(() => loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.merges': ['h e', 'x zzz'] }))).toThrow(
      /merges\[1\] "x zzz" names "zzz"/,
    );
    expect(() => loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.merges': ['he'] }))).toThrow(
      InvalidVocabularyError,
    );
    const noMerges = bpeMetadata();
    noMerges.delete('tokenizer.ggml.merges');
    expect(() => loadLlamaVocabulary(noMerges)).toThrow(/merges is missing/);
  });

  it('rejects duplicate tokens, short score/type tables and wrongly typed values', () => {
    const tokens = [...BYTE_CHARS, 'a'];
    expect(() =>
      loadLlamaVocabulary(
        bpeMetadata({ 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.token_type': undefined }),
      ),
    ).toThrow(/duplicate token/);
    expect(() => loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.scores': new Float32Array(3) }))).toThrow(
      /scores has 3 entries/,
    );
    expect(() =>
      loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.token_type': new Int32Array(2) })),
    ).toThrow(/token_type has 2/);
    expect(() => loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.pre': 7 }))).toThrow(/must be a string/);
    expect(() => loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.bos_token_id': 'one' }))).toThrow(
      /integer token id/,
    );
  });

  it('rejects add_bos_token without a BOS token (chatglm-bpe has none by default)', () => {
    expect(() =>
      loadLlamaVocabulary(
        bpeMetadata({ 'tokenizer.ggml.pre': 'chatglm-bpe', 'tokenizer.ggml.add_bos_token': true }),
      ),
    ).toThrow(/add_bos_token is true, but tokenizer\.ggml\.bos_token_id is not set/);
  });

  it('names unsupported tokenizer families', () => {
    expect(() => loadLlamaVocabulary(bpeMetadata({ 'tokenizer.ggml.model': 't5' }))).toThrow(
      UnsupportedTokenizerError,
    );
  });
});

describe('checkTokenizerFitsModel', () => {
  const t = tokenizerFromGguf(bpeMetadata());

  it('accepts a model with at least as many embedding rows as tokens (padding allowed)', () => {
    expect(() => checkTokenizerFitsModel(t, t.vocabSize)).not.toThrow();
    expect(() => checkTokenizerFitsModel(t, t.vocabSize + 64)).not.toThrow();
  });

  it('throws a typed error naming both sizes when the model is smaller', () => {
    expect(() => checkTokenizerFitsModel(t, 100)).toThrow(TokenizerModelMismatchError);
    expect(() => checkTokenizerFitsModel(t, 100)).toThrow(
      `tokenizer has ${t.vocabSize} tokens but the model has only 100`,
    );
    expect(() => checkTokenizerFitsModel(t, 0)).toThrow(TokenizerModelMismatchError);
  });
});
