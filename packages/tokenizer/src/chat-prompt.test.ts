import { describe, expect, it } from 'vitest';
import { openGguf, readLlama2cTokenizer } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { byteLevelChar } from './byte-level-alphabet.js';
import { ChatPrompter, chatTemplateTokens, encodeChatPrompt } from './chat-prompt.js';
import { ChatTemplate, type ChatMessage } from './chat-template.js';
import { tokenizerFromGguf } from './gguf-tokenizer.js';
import { tokenizerFromJson } from './hf-tokenizer.js';
import { tokenizerFromLlama2c } from './llama2c-vocabulary.js';
import {
  CHATML_QWEN2_TEMPLATE,
  GEMMA_TEMPLATE,
  LLAMA2_TEMPLATE,
  LLAMA3_TEMPLATE,
} from './testing/chat-templates.js';
import type { Tokenizer } from './tokenizer.js';

const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

const CONVERSATION: readonly ChatMessage[] = [
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi there.' },
  { role: 'user', content: 'What is 2+2?' },
];

/** A byte-level BPE vocabulary (every byte, no merges) followed by the given control tokens. */
function bpeVocabulary(pre: string, specials: readonly string[], ids: Record<string, string>) {
  const tokens = [...Array.from({ length: 256 }, (_, b) => byteLevelChar(b)), ...specials];
  const idOf = (text: string) => tokens.indexOf(text);
  return tokenizerFromGguf(
    new Map<string, unknown>([
      ['tokenizer.ggml.model', 'gpt2'],
      ['tokenizer.ggml.pre', pre],
      ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.token_type', Int32Array.from(tokens, (_, i) => (i < 256 ? NORMAL : CONTROL))],
      ['tokenizer.ggml.merges', []],
      ...Object.entries(ids).map(([key, text]) => [`tokenizer.ggml.${key}`, idOf(text)] as const),
    ]),
  );
}

/** Gemma's layout: <pad> <eos> <bos> <unk>, turn markers, byte fallback, one piece per ASCII character. */
function gemmaVocabulary() {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const chars = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i));
  const tokens = [
    '<pad>',
    '<eos>',
    '<bos>',
    '<unk>',
    '<start_of_turn>',
    '<end_of_turn>',
    ...bytes,
    '▁',
    ...chars,
  ];
  const types = Int32Array.from(tokens, (_, i) =>
    i === 3 ? UNKNOWN : i < 6 ? CONTROL : i < 6 + 256 ? BYTE : NORMAL,
  );
  return tokenizerFromGguf(
    new Map<string, unknown>([
      ['tokenizer.ggml.model', 'llama'],
      ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.scores', new Float32Array(tokens.length)],
      ['tokenizer.ggml.token_type', types],
      ['tokenizer.ggml.bos_token_id', 2],
      ['tokenizer.ggml.eos_token_id', 1],
      ['tokenizer.ggml.unknown_token_id', 3],
      ['tokenizer.ggml.padding_token_id', 0],
      ['tokenizer.ggml.add_space_prefix', false],
    ]),
  );
}

/** The ids of control/special tokens in `ids`, as their texts. */
function specialsIn(tokenizer: Tokenizer, ids: readonly number[], specials: readonly string[]): string[] {
  return ids.map((id) => tokenizer.tokenText(id)!).filter((text) => specials.includes(text));
}

describe('chat prompts as token ids', () => {
  it('turns the special-token text of Llama 3 into its tokens, with one BOS', () => {
    const specials = [
      '<|begin_of_text|>',
      '<|end_of_text|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
      '<|eot_id|>',
    ];
    const tokenizer = bpeVocabulary('llama-bpe', specials, {
      bos_token_id: '<|begin_of_text|>',
      eos_token_id: '<|end_of_text|>',
    });
    expect(tokenizer.addBos).toBe(true);
    const template = ChatTemplate.fromSource(LLAMA3_TEMPLATE, chatTemplateTokens(tokenizer));
    const prompter = new ChatPrompter(tokenizer, template);
    const ids = prompter.renderToIds(CONVERSATION, { addGenerationPrompt: true });
    const header = ['<|start_header_id|>', '<|end_header_id|>'];
    expect(specialsIn(tokenizer, ids, specials)).toEqual([
      '<|begin_of_text|>',
      ...header,
      '<|eot_id|>',
      ...header,
      '<|eot_id|>',
      ...header,
      '<|eot_id|>',
      ...header,
    ]);
    expect(ids[0]).toBe(256);
    expect(ids[1]).toBe(258);
    expect(tokenizer.decode(ids, { renderSpecial: true })).toBe(prompter.render(CONVERSATION));
    // Generation ends at either of Llama 3's ends.
    expect([...tokenizer.eogIds].map((id) => tokenizer.tokenText(id)).sort()).toEqual([
      '<|end_of_text|>',
      '<|eot_id|>',
    ]);
  });

  it('turns ChatML markers into Qwen2 tokens and adds no BOS to a vocabulary without one', () => {
    const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
    const tokenizer = bpeVocabulary('qwen2', specials, { eos_token_id: '<|im_end|>' });
    expect(tokenizer.addBos).toBe(false);
    const ids = encodeChatPrompt(
      tokenizer,
      ChatTemplate.fromSource(CHATML_QWEN2_TEMPLATE, chatTemplateTokens(tokenizer)).render(CONVERSATION),
    );
    expect(tokenizer.tokenText(ids[0]!)).toBe('<|im_start|>');
    expect(specialsIn(tokenizer, ids, specials)).toEqual([
      ...Array.from({ length: 4 }, () => ['<|im_start|>', '<|im_end|>']).flat(),
      '<|im_start|>',
    ]);
    expect([...tokenizer.eogIds].map((id) => tokenizer.tokenText(id)).sort()).toEqual([
      '<|endoftext|>',
      '<|im_end|>',
    ]);
  });

  it('turns Gemma turn markers into tokens on a SentencePiece vocabulary, BOS once', () => {
    const tokenizer = gemmaVocabulary();
    const template = ChatTemplate.fromSource(GEMMA_TEMPLATE, chatTemplateTokens(tokenizer));
    expect(chatTemplateTokens(tokenizer)).toEqual({ bosToken: '<bos>', eosToken: '<eos>' });
    const ids = new ChatPrompter(tokenizer, template).renderToIds(CONVERSATION, {
      addGenerationPrompt: true,
    });
    expect(ids.slice(0, 2)).toEqual([2, 4]);
    expect(ids.filter((id) => id === 2)).toHaveLength(1);
    expect(specialsIn(tokenizer, ids, ['<start_of_turn>', '<end_of_turn>'])).toEqual([
      ...Array.from({ length: 3 }, () => ['<start_of_turn>', '<end_of_turn>']).flat(),
      '<start_of_turn>',
    ]);
    expect(ids).not.toContain(3);
    expect(tokenizer.decode(ids, { renderSpecial: true })).toBe(template.render(CONVERSATION));
    expect([...tokenizer.eogIds].map((id) => tokenizer.tokenText(id)).sort()).toEqual([
      '<end_of_turn>',
      '<eos>',
    ]);
  });

  it('prepends BOS only when the vocabulary adds BOS and the text does not start with it', () => {
    const tokenizer = gemmaVocabulary();
    expect(encodeChatPrompt(tokenizer, 'hi')).toEqual([2, ...tokenizer.encode('hi', { addSpecial: false })]);
    expect(encodeChatPrompt(tokenizer, '<bos>hi')).toEqual(encodeChatPrompt(tokenizer, 'hi'));
    const qwen = bpeVocabulary('qwen2', ['<|im_end|>'], {});
    expect(encodeChatPrompt(qwen, 'hi')).toEqual(qwen.encode('hi', { addSpecial: false }));
  });

  const llamaSpm = modelFile('vocab/ggml-vocab-llama-spm.gguf');
  it.skipIf(llamaSpm === undefined)(
    'renders Llama 2 turns onto the real Llama 2 vocabulary: <s> and </s> as tokens',
    async () => {
      const file = await openGguf(llamaSpm!);
      const tokenizer = tokenizerFromGguf(file.metadata);
      await file.close();
      const template = ChatTemplate.fromSource(LLAMA2_TEMPLATE, chatTemplateTokens(tokenizer));
      const ids = new ChatPrompter(tokenizer, template).renderToIds(CONVERSATION, {
        addGenerationPrompt: true,
      });
      expect(ids.filter((id) => id <= 2)).toEqual([1, 2, 1]);
      expect(ids[0]).toBe(1);
      expect(ids[1]).not.toBe(1);
      // The text between the markers is what encode gives it (with the dummy prefix after a special token).
      expect(ids.slice(1, ids.indexOf(2))).toEqual(
        tokenizer.encode('[INST] Hello! [/INST] Hi there. ', { addSpecial: false }),
      );
    },
  );

  const stories = modelFile('stories260K.gguf');
  const tok512 = modelFile('tok512.bin');
  it.skipIf(stories === undefined || tok512 === undefined)(
    'serves stories260K (no template, 512 pieces) with the fallback: BOS once, no unknown tokens',
    async () => {
      const file = await openGguf(stories!);
      const tokenizer = tokenizerFromGguf(file.metadata);
      expect(file.get('tokenizer.chat_template')).toBeUndefined();
      await file.close();
      const prompter = new ChatPrompter(tokenizer, ChatTemplate.fallback(chatTemplateTokens(tokenizer)));
      const messages: ChatMessage[] = [
        { role: 'system', content: 'You tell stories.' },
        { role: 'user', content: 'Tell me about Lily and the ball {"x": 1}.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c', type: 'function', function: { name: 'story', arguments: '{"about": "Lily"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c', content: 'Lily found a red ball.' },
      ];
      const options = {
        addGenerationPrompt: true,
        tools: [{ type: 'function', function: { name: 'story' } }],
      };
      const ids = prompter.renderToIds(messages, options);
      expect(ids[0]).toBe(1);
      expect(ids.filter((id) => id === 1)).toHaveLength(1);
      expect(ids).not.toContain(0);
      expect(Math.max(...ids)).toBeLessThan(512);
      expect(tokenizer.decode(ids)).toBe(prompter.render(messages, options));
      // The llama2.c tokenizer.bin of the same model gives the same prompt.
      const llama2c = tokenizerFromLlama2c(await readLlama2cTokenizer(tok512!));
      expect(new ChatPrompter(llama2c, ChatTemplate.fallback()).renderToIds(messages, options)).toEqual(ids);
      // Its only end of generation is EOS.
      expect([...tokenizer.eogIds]).toEqual([2]);
    },
  );

  it.skipIf(tok512 === undefined)(
    'parses <s> and </s> as special tokens in a llama2.c vocabulary',
    async () => {
      const tokenizer = tokenizerFromLlama2c(await readLlama2cTokenizer(tok512!));
      const ids = tokenizer.encode('<s>Lily</s>', { addSpecial: false, parseSpecial: true });
      expect(ids[0]).toBe(1);
      expect(ids[ids.length - 1]).toBe(2);
      expect(tokenizer.encode('<s>Lily</s>', { addSpecial: false })).not.toContain(1);
    },
  );

  const gpt2 = modelFile('vocab/ggml-vocab-gpt-2.gguf');
  it.skipIf(gpt2 === undefined)(
    'turns ChatML markers into the added tokens of a tokenizer.json, and stops at each end token',
    async () => {
      const file = await openGguf(gpt2!);
      const tokens = file.get('tokenizer.ggml.tokens')!.value as string[];
      const merges = file.get('tokenizer.ggml.merges')!.value as string[];
      await file.close();
      // <|eot_id|> only in the model's vocabulary, not an added token: still an end, as in llama.cpp.
      const vocab = Object.fromEntries([...tokens, '<|eot_id|>'].map((t, i) => [t, i]));
      const added = (id: number, content: string) => ({
        id,
        content,
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      });
      const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
      const tokenizer = tokenizerFromJson(
        {
          added_tokens: [
            added(50256, '<|endoftext|>'),
            added(50258, '<|im_start|>'),
            added(50259, '<|im_end|>'),
          ],
          normalizer: null,
          pre_tokenizer: byteLevel,
          post_processor: byteLevel,
          decoder: byteLevel,
          model: {
            type: 'BPE',
            dropout: null,
            unk_token: null,
            fuse_unk: false,
            byte_fallback: false,
            vocab,
            merges,
          },
        },
        { eos_token: '<|im_end|>' },
      );
      const text = ChatTemplate.fromSource(CHATML_QWEN2_TEMPLATE, chatTemplateTokens(tokenizer)).render(
        CONVERSATION,
      );
      const ids = encodeChatPrompt(tokenizer, text);
      expect(ids.filter((id) => id >= 50256)).toEqual([
        50258, 50259, 50258, 50259, 50258, 50259, 50258, 50259, 50258,
      ]);
      expect(tokenizer.decode(ids, { renderSpecial: true })).toBe(text);
      expect([...tokenizer.eogIds].sort()).toEqual([50256, 50257, 50259]);
      // User text cannot inject them unless special text is parsed.
      expect(tokenizer.encode('<|im_end|>', { addSpecial: false })).not.toContain(50259);
    },
  );
});
