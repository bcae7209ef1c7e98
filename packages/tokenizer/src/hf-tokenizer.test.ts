import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openGguf } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { tokenizerFromJson } from './hf-tokenizer.js';
import { InvalidVocabularyError } from './tokenizer-errors.js';

/** A Llama-style tokenizer.json: SentencePiece BPE with byte fallback and a BOS template. */
function llamaStyleJson() {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'a', 'b', 'l', 'i', 'y', 'L', '▁a', '▁b', 'il', 'ily', 'Lily', '▁Lily'];
  pieces.forEach((p, i) => (vocab[p] = 259 + i));
  return {
    version: '1.0',
    added_tokens: [
      {
        id: 0,
        content: '<unk>',
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
      {
        id: 1,
        content: '<s>',
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
      {
        id: 2,
        content: '</s>',
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
    ],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: ['▁ a', '▁ b', 'i l', 'il y', 'L ily', '▁ Lily'],
    },
  };
}

const config = {
  bos_token: '<s>',
  eos_token: '</s>',
  add_bos_token: true,
  clean_up_tokenization_spaces: false,
};

describe('tokenizer.json through @huggingface/tokenizers', () => {
  it('adds BOS from the post-processor and knows BOS, EOS and the end-of-generation set', () => {
    const t = tokenizerFromJson(llamaStyleJson(), config);
    expect([t.vocabSize, t.bosId, t.eosId, t.addBos, t.addEos]).toEqual([272, 1, 2, true, false]);
    expect([...t.eogIds]).toEqual([2]);
    const ids = t.encode('Lily a');
    expect(ids.map((id) => t.tokenText(id))).toEqual(['<s>', '▁Lily', '▁a']);
    expect(t.encode('Lily a', { addSpecial: false })).toEqual(ids.slice(1));
    expect(t.decode(ids)).toBe('Lily a');
  });

  it('parses special-token text only when asked', () => {
    const t = tokenizerFromJson(JSON.stringify(llamaStyleJson()), JSON.stringify(config));
    expect(t.encode('a</s>', { addSpecial: false, parseSpecial: true })).toContain(2);
    expect(t.encode('a</s>', { addSpecial: false })).not.toContain(2);
    expect(t.decode(t.encode('a</s>', { addSpecial: false }))).toBe('a</s>');
  });

  it('streams byte-fallback text without splitting characters', () => {
    const t = tokenizerFromJson(llamaStyleJson(), config);
    const text = 'Lily 🦙 ab';
    const ids = t.encode(text);
    const stream = t.createStreamDecoder();
    const deltas = ids.map((id) => stream.push(id));
    expect(deltas.join('') + stream.flush()).toBe(text);
    for (const d of deltas) expect(d).not.toContain('\uFFFD');
    // A continuation keeps its leading space when it follows a non-BOS token.
    const lily = t.tokenId('▁Lily')!;
    expect(t.decode([t.tokenId('▁a')!], { previousId: lily })).toBe(' a');
    const cont = t.createStreamDecoder({ previousId: lily });
    expect(cont.push(t.tokenId('▁a')!) + cont.flush()).toBe(' a');
  });

  it('rejects files that are not tokenizers', () => {
    expect(() => tokenizerFromJson('{not json')).toThrow(InvalidVocabularyError);
    expect(() => tokenizerFromJson({ added_tokens: [] })).toThrow(/model/);
    expect(() =>
      tokenizerFromJson({
        model: { type: 'BPE', vocab: {}, merges: [] },
        added_tokens: [{ id: -1, content: 'x' }],
      }),
    ).toThrow(InvalidVocabularyError);
  });

  const gpt2 = modelFile('vocab/ggml-vocab-gpt-2.gguf');
  it.skipIf(gpt2 === undefined)(
    'tokenizes the GPT-2 test vectors like llama.cpp (tokenizer.json built from the GGUF)',
    async () => {
      const file = await openGguf(gpt2!);
      const tokens = file.get('tokenizer.ggml.tokens')!.value as string[];
      const merges = file.get('tokenizer.ggml.merges')!.value as string[];
      await file.close();
      const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
      const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
      const t = tokenizerFromJson({
        added_tokens: [
          {
            id: 50256,
            content: '<|endoftext|>',
            special: true,
            normalized: true,
            lstrip: false,
            rstrip: false,
            single_word: false,
          },
        ],
        normalizer: null,
        pre_tokenizer: byteLevel,
        post_processor: byteLevel,
        decoder: byteLevel,
        model: {
          type: 'BPE',
          dropout: null,
          unk_token: null,
          continuing_subword_prefix: '',
          end_of_word_suffix: '',
          fuse_unk: false,
          byte_fallback: false,
          vocab,
          merges,
        },
      });
      const inp = readFileSync(modelFile('vocab/ggml-vocab-gpt-2.gguf.inp')!, 'utf8')
        .split('\n__ggml_vocab_test__\n')
        .slice(0, -1);
      const out = readFileSync(modelFile('vocab/ggml-vocab-gpt-2.gguf.out')!, 'utf8').split('\n');
      inp.forEach((text, i) => {
        const line = out[i]!.trim();
        expect(t.encode(text, { addSpecial: false })).toEqual(line === '' ? [] : line.split(' ').map(Number));
      });
      expect(t.encode('<|endoftext|>', { parseSpecial: true })).toEqual([50256]);
      expect(t.eogIds.has(50256)).toBe(true);
    },
  );
});
