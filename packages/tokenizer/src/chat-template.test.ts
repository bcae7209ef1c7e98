import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChatTemplate, type ChatMessage, type ChatTextPart } from './chat-template.js';
import { FALLBACK_CHAT_TEMPLATE } from './fallback-chat-template.js';
import {
  CHATML_QWEN2_TEMPLATE,
  GEMMA_TEMPLATE,
  LLAMA2_TEMPLATE,
  LLAMA3_TEMPLATE,
  MISTRAL_TEMPLATE,
} from './testing/chat-templates.js';
import { ChatTemplateError, TokenizerError } from './tokenizer-errors.js';

const CONVERSATION: readonly ChatMessage[] = [
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi there.' },
  { role: 'user', content: 'What is 2+2?' },
];

describe('rendering well-known chat templates', () => {
  it('renders Llama 3 instruct with one BOS and an assistant header to generate after', () => {
    const t = ChatTemplate.fromSource(LLAMA3_TEMPLATE, {
      bosToken: '<|begin_of_text|>',
      eosToken: '<|eot_id|>',
    });
    expect(t.render(CONVERSATION)).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).not.toMatch(
      /assistant<\|end_header_id\|>\n\n$/,
    );
  });

  it('renders ChatML (Qwen2) with its default system message', () => {
    const t = ChatTemplate.fromSource(CHATML_QWEN2_TEMPLATE, { eosToken: '<|im_end|>' });
    expect(t.render(CONVERSATION)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHello!<|im_end|>\n' +
        '<|im_start|>assistant\nHi there.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('renders Llama 2 [INST] turns with BOS before each and the system prompt in the first', () => {
    const t = ChatTemplate.fromSource(LLAMA2_TEMPLATE, { bosToken: '<s>', eosToken: '</s>' });
    expect(t.render(CONVERSATION)).toBe(
      '<s>[INST] Hello! [/INST] Hi there. </s><s>[INST] What is 2+2? [/INST]',
    );
    expect(t.render([{ role: 'system', content: 'Be brief.' }, ...CONVERSATION])).toBe(
      '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello! [/INST] Hi there. </s><s>[INST] What is 2+2? [/INST]',
    );
  });

  it('renders Mistral [INST] turns', () => {
    const t = ChatTemplate.fromSource(MISTRAL_TEMPLATE, { bosToken: '<s>', eosToken: '</s>' });
    expect(t.render(CONVERSATION)).toBe('<s>[INST] Hello! [/INST]Hi there.</s> [INST] What is 2+2? [/INST]');
  });

  it('renders Gemma turns with the assistant as "model"', () => {
    const t = ChatTemplate.fromSource(GEMMA_TEMPLATE, { bosToken: '<bos>', eosToken: '<eos>' });
    expect(t.render(CONVERSATION)).toBe(
      '<bos><start_of_turn>user\nHello!<end_of_turn>\n' +
        '<start_of_turn>model\nHi there.<end_of_turn>\n' +
        '<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n' +
        '<start_of_turn>model\n',
    );
  });
});

describe('template errors', () => {
  it("throws the template's raise_exception message as a typed invalid_argument error", () => {
    const t = ChatTemplate.fromSource(GEMMA_TEMPLATE, {}, { name: 'tokenizer.chat_template of gemma.gguf' });
    const render = () =>
      t.render([
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
      ]);
    expect(render).toThrow(ChatTemplateError);
    try {
      render();
    } catch (error) {
      const e = error as ChatTemplateError;
      expect(e).toBeInstanceOf(TokenizerError);
      expect(e.code).toBe('invalid_argument');
      expect(e.raisedByTemplate).toBe(true);
      expect(e.detail).toBe('Conversation roles must alternate user/assistant/user/assistant/...');
      expect(e.message).toContain('Conversation roles must alternate');
      expect(e.origin).toBe('tokenizer.chat_template of gemma.gguf');
    }
    expect(() => t.render([{ role: 'system', content: 'x' }])).toThrow(/System role not supported/);
  });

  it('names the template when its Jinja text does not parse', () => {
    expect(() => ChatTemplate.fromSource('{% if %}', {}, { name: '--chat-template bad.jinja' })).toThrow(
      /chat template \(--chat-template bad\.jinja\): the Jinja text does not parse/,
    );
    try {
      ChatTemplate.fromSource('{% for m in messages %}', {});
    } catch (error) {
      expect(error).toBeInstanceOf(ChatTemplateError);
      expect((error as ChatTemplateError).raisedByTemplate).toBe(false);
    }
  });

  it('reports an expression that fails while rendering', () => {
    const t = ChatTemplate.fromSource('{{ messages[0].content.nope() }}', {});
    expect(() => t.render(CONVERSATION)).toThrow(/rendering failed/);
  });

  it('refuses extra variables that would replace the ones the renderer sets', () => {
    const t = ChatTemplate.fromSource(LLAMA3_TEMPLATE, {});
    expect(() => t.render(CONVERSATION, { extra: { messages: [] } })).toThrow(
      /'messages' is set by the renderer/,
    );
  });

  it('refuses content parts other than text', () => {
    const t = ChatTemplate.fromSource(CHATML_QWEN2_TEMPLATE, {});
    const image = [{ type: 'image_url', image_url: { url: 'x' } }] as unknown as readonly ChatTextPart[];
    expect(() => t.render([{ role: 'user', content: image }])).toThrow(/type 'image_url'; only text parts/);
  });
});

describe('template variables', () => {
  it('passes tools, extra variables and strftime_now with English month names', () => {
    const source = String.raw`{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d') }}|{% if enable_thinking %}think{% endif %}|{% if tools is defined %}{% for tool in tools %}{{ tool.function.name }};{% endfor %}{% else %}no tools{% endif %}`;
    const t = ChatTemplate.fromSource(source, {}, { now: () => new Date(2024, 6, 26, 9, 5) });
    expect(
      t.render([], {
        tools: [{ type: 'function', function: { name: 'get_weather' } }],
        extra: { enable_thinking: true },
      }),
    ).toBe('26 Jul 2024|Friday July %-d|think|get_weather;');
    // Without tools the template sees no `tools` at all.
    expect(t.render([])).toBe('26 Jul 2024|Friday July %-d||no tools');
  });

  it('joins text parts with newlines for templates that print content as a string', () => {
    const t = ChatTemplate.fromSource(CHATML_QWEN2_TEMPLATE, {});
    const parts: ChatMessage = {
      role: 'user',
      content: [
        { type: 'text', text: 'first' },
        { type: 'text', text: 'second' },
      ],
    };
    expect(t.render([{ role: 'system', content: 's' }, parts], { addGenerationPrompt: false })).toBe(
      '<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nfirst\nsecond<|im_end|>\n',
    );
  });

  it('gives part arrays to templates that loop over content parts only', () => {
    const t = ChatTemplate.fromSource(
      '{% for m in messages %}[{% for p in m.content %}{% if p.type == "text" %}{{ p.text }};{% endif %}{% endfor %}]{% endfor %}',
      {},
    );
    expect(
      t.render([
        { role: 'user', content: 'plain' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ]),
    ).toBe('[plain;][a;b;]');
  });

  it('hands tool-call arguments sent as JSON text to the template as objects', () => {
    const t = ChatTemplate.fromSource(
      '{% for c in messages[0].tool_calls %}{{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}',
      {},
    );
    expect(
      t.render([
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"city": "Paris"}' } },
            { id: 'c2', type: 'function', function: { name: 'g', arguments: 'not json' } },
          ],
        },
      ]),
    ).toBe('f{"city": "Paris"}g"not json"');
  });
});

describe('the fallback template', () => {
  const conversation: ChatMessage[] = [{ role: 'system', content: 'You are kind.' }, ...CONVERSATION];

  it('writes "Role: content" paragraphs and an "Assistant:" generation prompt', () => {
    const t = ChatTemplate.fallback({ bosToken: '<s>', eosToken: '</s>' });
    expect(t.render(conversation)).toBe(
      'System: You are kind.\n\nUser: Hello!\n\nAssistant: Hi there.\n\nUser: What is 2+2?\n\nAssistant:',
    );
    expect(t.render(conversation, { addGenerationPrompt: false })).toBe(
      'System: You are kind.\n\nUser: Hello!\n\nAssistant: Hi there.\n\nUser: What is 2+2?\n\n',
    );
  });

  it('lists tools after the system message, one JSON object a line, and writes calls and results', () => {
    const t = ChatTemplate.fallback();
    const tools = [
      {
        type: 'function',
        function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'number' } } } },
      },
    ];
    const toolTurns: ChatMessage[] = [
      { role: 'user', content: 'Add 2 and 2.' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'add', arguments: '{"a": 2, "b": 2}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '4' },
    ];
    const toolLines =
      'Tools:\n' +
      '{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}}\n' +
      'To call a tool, write <tool_call>{"name": "NAME", "arguments": {...}}</tool_call> in your reply.\n\n';
    const turns =
      'User: Add 2 and 2.\n\n' +
      'Assistant: <tool_call>{"name": "add", "arguments": {"a": 2, "b": 2}}</tool_call>\n\n' +
      'Tool: 4\n\n' +
      'Assistant:';
    expect(t.render([{ role: 'system', content: 'Be exact.' }, ...toolTurns], { tools })).toBe(
      'System: Be exact.\n\n' + toolLines + turns,
    );
    expect(t.render(toolTurns, { tools })).toBe(toolLines + turns);
  });

  it('is shown verbatim in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(FALLBACK_CHAT_TEMPLATE.trimEnd());
    // And so are its examples.
    const t = ChatTemplate.fallback();
    const simple = t.render([
      { role: 'system', content: 'You tell short stories.' },
      { role: 'user', content: 'Tell me about Lily.' },
    ]);
    expect(readme).toContain('```\n' + simple + '\n```');
    const withTools = t.render(
      [
        { role: 'system', content: 'Be exact.' },
        { role: 'user', content: 'Add 2 and 2.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ type: 'function', function: { name: 'add', arguments: '{"a": 2, "b": 2}' } }],
        },
        { role: 'tool', content: '4' },
      ],
      { tools: [{ type: 'function', function: { name: 'add', parameters: { type: 'object' } } }] },
    );
    expect(readme).toContain('```\n' + withTools + '\n```');
  });
});
