import { Engine } from '@llm/engine';
import { modelFile } from '@llm/formats/testing';
import { CpuModelRunner, type OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import { ChatPrompter, ChatTemplate, chatTemplateTokens } from '@llm/tokenizer';
import { Ajv } from 'ajv';
import OpenAI, { BadRequestError } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionChunk, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { LlmServer } from './llm-server.js';
import { ToolCallParser } from './tool-calls.js';

const gguf = modelFile('stories260K.gguf');
const MODEL = 'stories';

const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'weather',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 8 }, days: { type: 'integer', minimum: 1, maximum: 7 } },
      required: ['city', 'days'],
    },
  },
};
const TIME: ChatCompletionTool = {
  type: 'function',
  function: { name: 'time', parameters: { type: 'object', properties: { zone: { enum: ['utc', 'local'] } } } },
};

describe('ToolCallParser', () => {
  const reply = 'Sure.\n<tool_call>{"name": "get_weather", "arguments": {"city":"Oslo","days":2}}</tool_call>\n<tool_call>{"name": "get_time", "arguments": {"zone":"utc"}}</tool_call>';

  it('splits content and calls the same way whatever the pieces the text streams in', () => {
    const ids = () => {
      let n = 0;
      return () => `call_${n++}`;
    };
    const whole = new ToolCallParser(ids());
    const wholeContent = whole.push(reply).content + whole.finish().content;
    expect(wholeContent).toBe('Sure.\n\n');
    expect(whole.calls).toEqual([
      { id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo","days":2}' } },
      { id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '{"zone":"utc"}' } },
    ]);
    for (const size of [1, 2, 3, 7, 13]) {
      const parser = new ToolCallParser(ids());
      let content = '';
      const args: string[] = ['', ''];
      for (let i = 0; i < reply.length; i += size) {
        const piece = parser.push(reply.slice(i, i + size));
        content += piece.content;
        for (const d of piece.toolCalls) args[d.index] += d.function.arguments;
      }
      content += parser.finish().content;
      expect(content).toBe(wholeContent);
      expect(args).toEqual(whole.calls.map((c) => c.function.arguments));
    }
  });

  it('keeps text that only looks like a call opening as content', () => {
    const parser = new ToolCallParser(() => 'x');
    const text = 'a <tool_ b <tool_call> not json ' + 'z'.repeat(300);
    expect(parser.push(text).content + parser.finish().content).toBe(text);
    expect(parser.calls).toEqual([]);
  });
});

describe.skipIf(!gguf)('structured output and tool calls over the real engine (stories260K, CPU runner)', () => {
  let opened: OpenedModel;
  let server: LlmServer;
  let client: OpenAI;
  let base: string;
  let prompter: ChatPrompter;

  beforeAll(async () => {
    opened = await openModel(gguf!);
    const runner = await CpuModelRunner.load(opened.source, { maxModelLen: 512, maxSeqs: 8, maxStepTokens: 128 });
    const engine = new Engine(runner, opened.tokenizer);
    const template = ChatTemplate.fallback(chatTemplateTokens(opened.tokenizer));
    server = new LlmServer({ version: '1.0.0' });
    server.attach({
      name: MODEL,
      engine,
      tokenizer: opened.tokenizer,
      chat: (prompter = new ChatPrompter(opened.tokenizer, template)),
      maxModelLen: 512,
      cacheConfig: { blockSize: runner.blockSize, numGpuBlocks: runner.numBlocks },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.shutdown({ timeoutMs: 1000 });
    await opened?.source.close();
  });

  it('parses a reply into the zod schema through chat.completions.parse', async () => {
    const Pet = z.object({ name: z.string().max(10), age: z.number().int().min(0).max(20), kind: z.enum(['cat', 'dog']), tags: z.array(z.string().max(5)).max(2) });
    const completion = await client.chat.completions.parse({
      model: MODEL,
      messages: [{ role: 'user', content: 'Tell me about a pet.' }],
      response_format: zodResponseFormat(Pet, 'pet'),
      max_tokens: 200,
      seed: 4,
    });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('stop');
    expect(Pet.parse(choice.message.parsed)).toEqual(choice.message.parsed);
    expect(JSON.parse(choice.message.content!)).toEqual(choice.message.parsed);
  });

  it('answers json_object and json_schema on completions too', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'number', minimum: 0, maximum: 1 } }, required: ['ok', 'n'] };
    const response = await fetch(`${base}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'The cat', max_tokens: 100, seed: 2, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }),
    });
    const body = (await response.json()) as { choices: { text: string; finish_reason: string }[] };
    expect(body.choices[0]!.finish_reason).toBe('stop');
    expect(new Ajv().validate(schema, JSON.parse(body.choices[0]!.text))).toBe(true);

    const cut = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
      max_tokens: 4,
      seed: 2,
    });
    expect(cut.choices[0]!.finish_reason).toBe('length');
    expect('{"ok":'.startsWith(cut.choices[0]!.message.content!) || cut.choices[0]!.message.content!.startsWith('{"ok":')).toBe(true);
  });

  const callsOf = async (stream: AsyncIterable<ChatCompletionChunk>) => {
    const calls: { id: string; name: string; arguments: string }[] = [];
    let finish: string | null = null;
    let content = '';
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      content += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
      for (const d of choice.delta.tool_calls ?? []) {
        if (d.id !== undefined) calls[d.index] = { id: d.id, name: d.function?.name ?? '', arguments: '' };
        calls[d.index]!.arguments += d.function?.arguments ?? '';
      }
    }
    return { calls, finish, content };
  };

  it('returns a valid call for tool_choice required, streamed deltas reassembling to the same call', async () => {
    const ajv = new Ajv();
    for (const seed of [1, 2, 3]) {
      const request = {
        model: MODEL,
        messages: [{ role: 'user' as const, content: 'What is the weather in Oslo?' }],
        tools: [WEATHER, TIME],
        tool_choice: 'required' as const,
        parallel_tool_calls: false,
        // stories260K spells the tool list nearly letter by letter: 414 of its 512 tokens.
        max_tokens: 98,
        seed,
      };
      const plain = await client.chat.completions.create(request);
      const choice = plain.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      const calls = choice.message.tool_calls!;
      expect(calls).toHaveLength(1);
      const call = calls[0]!;
      if (call.type !== 'function') throw new Error('not a function call');
      const tool = [WEATHER, TIME].find((t) => t.type === 'function' && t.function.name === call.function.name);
      expect(tool).toBeDefined();
      if (tool?.type !== 'function') throw new Error('unknown tool');
      expect(ajv.validate(tool.function.parameters!, JSON.parse(call.function.arguments))).toBe(true);
      expect(call.id).toMatch(/^call-/);

      const streamed = await callsOf(await client.chat.completions.create({ ...request, stream: true }));
      expect(streamed.finish).toBe('tool_calls');
      expect(streamed.calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual([
        { name: call.function.name, arguments: call.function.arguments },
      ]);
    }
  });

  it('lets auto replies be text or whole calls, the same streamed and not', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const request = {
        model: MODEL,
        messages: [{ role: 'user' as const, content: 'Weather?' }],
        tools: [WEATHER],
        parallel_tool_calls: false,
        max_tokens: 60,
        seed,
      };
      const plain = (await client.chat.completions.create(request)).choices[0]!;
      const streamed = await callsOf(await client.chat.completions.create({ ...request, stream: true }));
      const calls = plain.message.tool_calls ?? [];
      expect(streamed.calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(
        calls.map((c) => (c.type === 'function' ? { name: c.function.name, arguments: c.function.arguments } : {})),
      );
      if (calls.length > 0 && plain.finish_reason === 'tool_calls') {
        const call = calls[0]!;
        expect(call.type === 'function' && new Ajv().validate(WEATHER.function.parameters!, JSON.parse(call.function.arguments))).toBe(true);
      }
    }
  });

  it('calls the named function and only it', async () => {
    const plain = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Time?' }],
      tools: [WEATHER, TIME],
      tool_choice: { type: 'function', function: { name: 'time' } },
      parallel_tool_calls: false,
      max_tokens: 100,
      seed: 9,
    });
    const call = plain.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('time');
    const args = JSON.parse(call.type === 'function' ? call.function.arguments : '') as { zone?: string };
    expect(args.zone === undefined || ['utc', 'local'].includes(args.zone)).toBe(true);
  });

  it('renders tool results back through the template and answers in text with tool_choice none', async () => {
    const messages = [
      { role: 'user' as const, content: 'Weather in Oslo?' },
      { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'weather', arguments: '{"city":"Oslo","days":1}' } }] },
      { role: 'tool' as const, tool_call_id: 'call_1', content: 'Sunny, 20 degrees' },
    ];
    const rendered = prompter.render(messages, { tools: [WEATHER] });
    expect(rendered).toContain('<tool_call>{"name": "weather", "arguments": {"city": "Oslo", "days": 1}}</tool_call>');
    expect(rendered).toContain('Tool: Sunny, 20 degrees');
    const reply = await client.chat.completions.create({
      model: MODEL,
      messages,
      tools: [WEATHER],
      tool_choice: 'none',
      max_tokens: 8,
      temperature: 0,
    });
    expect(reply.choices[0]!.message.tool_calls ?? []).toEqual([]);
    expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(reply.usage!.prompt_tokens).toBe(prompter.renderToIds(messages, { addGenerationPrompt: true, tools: [WEATHER] }).length);
  });

  it('answers a schema that is not valid JSON Schema with a 400 naming it', async () => {
    const error = await client.chat.completions
      .create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'object', properties: { a: { type: 'strng' } } } } },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).message).toMatch(/response_format.*properties\/a\/type/);
    expect((error as BadRequestError).param).toBe('response_format');

    const tool = await client.chat.completions
      .create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        tools: [WEATHER, { type: 'function', function: { name: 'broken', parameters: { type: 'object', required: 'a' } } }],
        tool_choice: 'required',
      })
      .catch((e: unknown) => e);
    expect(tool).toBeInstanceOf(BadRequestError);
    expect((tool as BadRequestError).param).toBe('tools[1].function.parameters');
    const named = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } })
      .catch((e: unknown) => e);
    expect((named as BadRequestError).param).toBe('tool_choice');
  });
});
