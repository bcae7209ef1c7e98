import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type EngineOptions } from '@llm/engine';
import { modelFile } from '@llm/formats/testing';
import { CpuModelRunner, type ModelRunner, type OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import type { Tokenizer } from '@llm/tokenizer';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmServer } from './llm-server.js';
import type { ChatPromptRenderer, ServedModel } from './serving-engine.js';

const gguf = modelFile('stories260K.gguf');

const API_KEY = 'test-key';
const MODEL = 'stories';
const MAX_MODEL_LEN = 512;
const ALLOWED_ORIGIN = 'http://allowed.example';
const MAX_BODY_BYTES = 64 * 1024;

/** A plain conversation format (`role: content` lines, then `assistant:`); real chat templates come from @llm/tokenizer. */
function plainChat(tokenizer: Tokenizer): ChatPromptRenderer {
  return {
    renderToIds(messages, { addGenerationPrompt }) {
      const lines = messages.map((m) => {
        const content =
          typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join('');
        return `${m.role}: ${content}`;
      });
      return tokenizer.encode(lines.join('\n') + (addGenerationPrompt ? '\nassistant:' : ''), {
        addSpecial: true,
      });
    },
  };
}

/** What a test does to a runner's steps. */
interface StepControl {
  /** Each step takes at least this long. */
  stepMs: number;
  /** Steps fail from now on, as on a lost device. */
  fail?: boolean;
}

/**
 * The runner with its steps under a test's control: stories260K on the CPU runs hundreds of tokens
 * in a few milliseconds, and the tests of queueing, disconnects and shutdown need a request still
 * running when they act on it; the test of an engine failure needs a step that fails.
 */
function controlled(runner: ModelRunner, control: StepControl): ModelRunner {
  return new Proxy(runner, {
    get(target, prop) {
      if (prop === 'step') {
        return async (...args: Parameters<ModelRunner['step']>) => {
          if (control.fail) throw new Error('device lost');
          const result = target.step(...args);
          await new Promise((r) => setTimeout(r, control.stepMs));
          return result;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** One sample's value in a Prometheus exposition (the first series of `name` whose labels contain `labels`). */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labels)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The `data:` payloads of an SSE body. */
function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

describe.skipIf(!gguf)('LlmServer over the real engine (stories260K on the CPU runner)', () => {
  let opened: OpenedModel;
  const servers: LlmServer[] = [];

  /** A model served by its own engine over its own runner (engines must not share a KV pool). */
  async function servedModel(
    engineOptions: EngineOptions = {},
    control?: StepControl,
  ): Promise<ServedModel & { engine: Engine }> {
    const loaded = await CpuModelRunner.load(opened.source, {
      maxModelLen: MAX_MODEL_LEN,
      maxSeqs: 8,
      maxStepTokens: 128,
    });
    const runner = control ? controlled(loaded, control) : loaded;
    const engine = new Engine(runner, opened.tokenizer, engineOptions);
    return {
      name: MODEL,
      engine,
      tokenizer: opened.tokenizer,
      chat: plainChat(opened.tokenizer),
      maxModelLen: MAX_MODEL_LEN,
      cacheConfig: { blockSize: runner.blockSize, numGpuBlocks: runner.numBlocks },
    };
  }

  async function started(
    model: ServedModel | undefined,
    options: Partial<ConstructorParameters<typeof LlmServer>[0]> = {},
  ) {
    const server = new LlmServer({ version: '1.2.3', ...options });
    servers.push(server);
    if (model) server.attach(model);
    const { port } = await server.listen(0, '127.0.0.1');
    return { server, base: `http://127.0.0.1:${port}` };
  }

  let base: string;
  let model: ServedModel & { engine: Engine };
  let client: OpenAI;
  const auth = { authorization: `Bearer ${API_KEY}` };
  const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const metrics = async () => (await fetch(`${base}/metrics`)).text();

  beforeAll(async () => {
    opened = await openModel(gguf!);
    model = await servedModel();
    ({ base } = await started(model, {
      apiKey: API_KEY,
      allowedOrigins: [ALLOWED_ORIGIN],
      maxBodyBytes: MAX_BODY_BYTES,
    }));
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: API_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.shutdown({ timeoutMs: 1000 })));
    await opened?.source.close();
  });

  describe('completions', () => {
    it('completes a text prompt greedily, the same text streamed, ending in [DONE] with a usage chunk', async () => {
      const request = { model: MODEL, prompt: 'Once upon a time', max_tokens: 12, temperature: 0 };
      const plain = await client.completions.create(request);
      expect(plain.object).toBe('text_completion');
      expect(plain.id).toMatch(/^cmpl-/);
      expect(plain.model).toBe(MODEL);
      const choice = plain.choices[0]!;
      expect(choice.text.length).toBeGreaterThan(0);
      expect(choice.finish_reason).toBe('length');
      const promptTokens = opened.tokenizer.encode('Once upon a time', { addSpecial: true }).length;
      expect(plain.usage).toEqual({
        prompt_tokens: promptTokens,
        completion_tokens: 12,
        total_tokens: promptTokens + 12,
      });

      const response = await post('/v1/completions', {
        ...request,
        stream: true,
        stream_options: { include_usage: true },
      });
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = sseData(await response.text());
      expect(events.at(-1)).toBe('[DONE]');
      interface Chunk {
        object: string;
        choices: { text: string; finish_reason: string | null }[];
        usage?: unknown;
      }
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Chunk);
      const last = chunks.at(-1)!;
      expect(last.choices).toEqual([]);
      expect(last.usage).toEqual(plain.usage);
      for (const chunk of chunks.slice(0, -1)) {
        expect(chunk.usage).toBeNull();
        expect(chunk.object).toBe('text_completion');
      }
      expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(choice.text);
      expect(chunks.at(-2)!.choices[0]).toMatchObject({
        text: '',
        finish_reason: 'length',
        stop_reason: null,
      });
      // No chunk carries nothing.
      expect(chunks.slice(0, -2).every((c) => c.choices[0]!.text !== '')).toBe(true);
    });

    it('gives n choices per prompt of a prompt list, indexed prompt * n + i, token-id prompts verbatim', async () => {
      const ids = opened.tokenizer.encode('The dog', { addSpecial: true });
      const result = await client.completions.create({
        model: MODEL,
        prompt: ['Once upon a time', 'Lily went'],
        n: 2,
        max_tokens: 6,
      });
      expect(result.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
      expect(result.usage?.completion_tokens).toBe(24);
      const byIds = await client.completions.create({
        model: MODEL,
        prompt: ids,
        max_tokens: 6,
        temperature: 0,
      });
      const byText = await client.completions.create({
        model: MODEL,
        prompt: 'The dog',
        max_tokens: 6,
        temperature: 0,
      });
      expect(byIds.choices[0]!.text).toBe(byText.choices[0]!.text);
      expect(byIds.usage?.prompt_tokens).toBe(ids.length);
    });

    it('echoes the prompt before the completion', async () => {
      const result = await client.completions.create({
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 4,
        temperature: 0,
        echo: true,
      });
      expect(result.choices[0]!.text.startsWith('Once upon a time')).toBe(true);
    });

    it('stops at a stop string, which is left out and named in stop_reason', async () => {
      const free = await client.completions.create({
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 40,
        temperature: 0,
      });
      const text = free.choices[0]!.text;
      const stop = text.trim().split(' ')[3]!;
      const cut = text.indexOf(stop);
      const result = await client.completions.create({
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 40,
        temperature: 0,
        stop: [stop],
      });
      const choice = result.choices[0]! as (typeof result.choices)[0] & { stop_reason: unknown };
      expect(choice.text).toBe(text.slice(0, cut));
      expect(choice.finish_reason).toBe('stop');
      expect(choice.stop_reason).toBe(stop);
    });

    it('returns OpenAI completions logprobs: tokens, token_logprobs, top_logprobs and text_offset', async () => {
      const result = await client.completions.create({
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 8,
        temperature: 0,
        logprobs: 3,
      });
      const choice = result.choices[0]!;
      const lp = choice.logprobs!;
      expect(lp.tokens).toHaveLength(8);
      expect(lp.tokens!.join('')).toBe(choice.text);
      expect(lp.token_logprobs!.every((x) => x <= 0)).toBe(true);
      for (const [i, top] of lp.top_logprobs!.entries()) {
        expect(Object.keys(top).length).toBeGreaterThanOrEqual(3);
        // Greedy: the sampled token is the most probable one.
        expect(Math.max(...Object.values(top))).toBeCloseTo(lp.token_logprobs![i]!, 5);
      }
      expect(lp.text_offset![0]).toBe(0);
      for (let i = 1; i < 8; i++)
        expect(lp.text_offset![i]).toBe(lp.text_offset![i - 1]! + lp.tokens![i - 1]!.length);

      const stream = await client.completions.create({
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 8,
        temperature: 0,
        logprobs: 3,
        stream: true,
      });
      const streamed: string[] = [];
      const offsets: number[] = [];
      for await (const chunk of stream) {
        streamed.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
        offsets.push(...(chunk.choices[0]?.logprobs?.text_offset ?? []));
      }
      expect(streamed).toEqual(lp.tokens);
      expect(offsets).toEqual(lp.text_offset);
    });

    it('gives the same text for the same seed at temperature 1', async () => {
      const request = {
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 16,
        temperature: 1,
        seed: 1234,
      };
      const a = await client.completions.create(request);
      const b = await client.completions.create(request);
      const other = await client.completions.create({ ...request, seed: 99 });
      expect(b.choices[0]!.text).toBe(a.choices[0]!.text);
      expect(other.choices[0]!.text).not.toBe(a.choices[0]!.text);
    });
  });

  describe('chat completions', () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story about a dog.' }];

    it('answers a conversation, and streams the same text: role chunk, content chunks, finish chunk with an empty delta', async () => {
      const plain = await client.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 10,
        temperature: 0,
      });
      expect(plain.object).toBe('chat.completion');
      expect(plain.id).toMatch(/^chatcmpl-/);
      const choice = plain.choices[0]!;
      expect(choice.message.role).toBe('assistant');
      expect(choice.message.content!.length).toBeGreaterThan(0);
      const promptTokens = plainChat(opened.tokenizer).renderToIds(messages, {
        addGenerationPrompt: true,
      }).length;
      expect(plain.usage?.prompt_tokens).toBe(promptTokens);

      const stream = await client.chat.completions.create({
        model: MODEL,
        messages,
        max_completion_tokens: 10,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks[0]!.choices[0]).toMatchObject({
        index: 0,
        delta: { role: 'assistant', content: '' },
        finish_reason: null,
      });
      const usageChunk = chunks.at(-1)!;
      expect(usageChunk.choices).toEqual([]);
      expect(usageChunk.usage).toEqual(plain.usage);
      const finish = chunks.at(-2)!;
      expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
      const contents = chunks.slice(1, -2).map((c) => c.choices[0]!.delta.content);
      expect(contents.every((c) => typeof c === 'string' && c.length > 0)).toBe(true);
      expect(contents.join('')).toBe(choice.message.content);
      expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    });

    it('streams n = 2 choices, each by its index, each ending with its finish reason', async () => {
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 6,
        n: 2,
        seed: 7,
        stream: true,
      });
      const texts = ['', ''];
      const finished: string[] = [];
      for await (const chunk of stream) {
        const c = chunk.choices[0]!;
        texts[c.index] += c.delta.content ?? '';
        if (c.finish_reason) finished[c.index] = c.finish_reason;
      }
      expect(finished).toEqual(['length', 'length']);
      expect(texts.every((t) => t.length > 0)).toBe(true);
      const plain = await client.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 6,
        n: 2,
        seed: 7,
      });
      expect(plain.choices.map((c) => c.message.content)).toEqual(texts);
    });

    it('returns chat logprobs with top_logprobs and bytes, streamed and not', async () => {
      const request = {
        model: MODEL,
        messages,
        max_tokens: 6,
        temperature: 0,
        logprobs: true,
        top_logprobs: 2,
      };
      const plain = await client.chat.completions.create(request);
      const content = plain.choices[0]!.logprobs!.content!;
      expect(content).toHaveLength(6);
      expect(content.map((t) => t.token).join('')).toBe(plain.choices[0]!.message.content);
      for (const entry of content) {
        expect(entry.top_logprobs).toHaveLength(2);
        expect(entry.top_logprobs[0]!.token).toBe(entry.token);
        expect(Buffer.from(entry.bytes!).toString('utf8')).toBe(entry.token);
        expect(entry.logprob).toBeLessThanOrEqual(0);
      }
      const stream = await client.chat.completions.create({ ...request, stream: true });
      const streamed = [];
      for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
      expect(streamed).toEqual(content);
    });
  });

  describe('errors', () => {
    async function apiError(call: Promise<unknown>): Promise<APIError> {
      const error = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(APIError);
      return error as APIError;
    }

    it('answers 400 naming the field of a wrong type or value', async () => {
      const response = await post('/v1/completions', { prompt: 'hi', temperature: 'hot' });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({ type: 'invalid_request_error', param: 'temperature' });
      expect(body.error['message']).toMatch(/temperature/);
      const chat = await apiError(
        client.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 5 as unknown as string }],
        }),
      );
      expect(chat.status).toBe(400);
      expect(chat.param).toBe('messages[0].content');
      const n = await apiError(client.completions.create({ model: MODEL, prompt: 'hi', n: 0 }));
      expect(n.param).toBe('n');
      const vocab = await apiError(
        client.completions.create({ model: MODEL, prompt: [1, 5000], max_tokens: 2 }),
      );
      expect(vocab.status).toBe(400);
      expect(vocab.param).toBe('prompt');
    });

    it('ignores unknown fields', async () => {
      const response = await post('/v1/completions', {
        prompt: 'hi',
        max_tokens: 2,
        frobnicate: true,
        user: 'u1',
      });
      expect(response.status).toBe(200);
    });

    it('answers 400 to malformed JSON', async () => {
      const response = await post('/v1/chat/completions', '{"messages": [');
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    });

    it('answers 401 without the key or with a wrong one, and leaves /health, /metrics and /version open', async () => {
      expect((await post('/v1/completions', { prompt: 'hi' }, {})).status).toBe(401);
      const wrong = await apiError(
        new OpenAI({ baseURL: `${base}/v1`, apiKey: 'nope', maxRetries: 0 }).models.list(),
      );
      expect(wrong.status).toBe(401);
      expect(wrong.code).toBe('invalid_api_key');
      expect((await post('/tokenize', { prompt: 'hi' }, {})).status).toBe(401);
      for (const path of ['/health', '/metrics', '/version'])
        expect((await fetch(`${base}${path}`)).status).toBe(200);
    });

    it('answers 404 model_not_found for another model, 404 for an unknown route', async () => {
      const error = await apiError(client.completions.create({ model: 'gpt-4', prompt: 'hi' }));
      expect(error.status).toBe(404);
      expect(error.code).toBe('model_not_found');
      const route = await fetch(`${base}/v1/engines`, { headers: auth });
      expect(route.status).toBe(404);
      expect(((await route.json()) as { error: { message: string } }).error.message).toMatch(/\/v1\/engines/);
    });

    it('answers 413 to a body over maxBodyBytes', async () => {
      const response = await post('/v1/completions', { prompt: 'x'.repeat(MAX_BODY_BYTES) });
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('request_too_large');
    });

    it('answers 400 when prompt and max_tokens exceed the context, naming both numbers', async () => {
      const promptTokens = opened.tokenizer.encode('Once upon a time', { addSpecial: true }).length;
      const error = await apiError(
        client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 600 }),
      );
      expect(error.status).toBe(400);
      expect(error.code).toBe('context_length_exceeded');
      expect(error.message).toContain(`maximum context length is ${MAX_MODEL_LEN} tokens`);
      expect(error.message).toContain(
        `you requested ${promptTokens + 600} tokens (${promptTokens} in the prompt, 600 in the completion)`,
      );
      const long = await apiError(
        client.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 'dog '.repeat(600) }],
        }),
      );
      expect(long.status).toBe(400);
    });

    it('refuses pages of other origins with 403 and no CORS headers; gives allowed ones CORS headers and preflight', async () => {
      const refused = await fetch(`${base}/v1/models`, {
        headers: { ...auth, origin: 'http://evil.example' },
      });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
      const allowed = await fetch(`${base}/v1/models`, { headers: { ...auth, origin: ALLOWED_ORIGIN } });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
      const preflight = await fetch(`${base}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: {
          origin: ALLOWED_ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
      expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    });

    it('answers 503 "loading" before attach and with the error after failLoading', async () => {
      const { server, base: loadingBase } = await started(undefined);
      const health = await fetch(`${loadingBase}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { error: { message: string } }).error.message).toMatch(/loading/);
      const completion = await fetch(`${loadingBase}/v1/completions`, {
        method: 'POST',
        body: '{"prompt":"hi"}',
      });
      expect(completion.status).toBe(503);
      expect((await fetch(`${loadingBase}/version`)).status).toBe(200);
      server.failLoading(new Error('no such file: model.gguf'));
      const failed = await fetch(`${loadingBase}/health`);
      expect(failed.status).toBe(503);
      expect(((await failed.json()) as { error: { message: string } }).error.message).toMatch(
        /no such file: model\.gguf/,
      );
    });

    it('answers 429 when the engine queue is full', async () => {
      const small = await servedModel({ maxNumSeqs: 1, maxWaiting: 1 }, { stepMs: 5 });
      const { base: smallBase } = await started(small);
      const smallClient = new OpenAI({ baseURL: `${smallBase}/v1`, apiKey: 'unused', maxRetries: 0 });
      const waiting = async () =>
        sample(await (await fetch(`${smallBase}/metrics`)).text(), 'vllm:num_requests_waiting') ?? 0;
      const controller = new AbortController();
      const long = { model: MODEL, prompt: 'Once', max_tokens: 400, ignore_eos: true, stream: true } as const;
      // One request runs (the only sequence a step holds), one waits: the queue is full.
      const running = await smallClient.completions.create(long, { signal: controller.signal });
      const queued = smallClient.completions
        .create(long, { signal: controller.signal })
        .catch(() => undefined);
      await until(async () => (await waiting()) === 1);
      const error = await apiError(
        smallClient.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 2 }),
      );
      expect(error.status).toBe(429);
      expect(error.code).toBe('resource_exhausted');
      controller.abort();
      await queued;
      void running;
      await until(
        async () => small.engine.totals().numRunning === 0 && small.engine.totals().numWaiting === 0,
      );
    });
  });

  describe('other routes', () => {
    it('lists the model with max_model_len', async () => {
      const list = await client.models.list();
      expect(list.data).toHaveLength(1);
      expect(list.data[0]).toMatchObject({ id: MODEL, object: 'model', max_model_len: MAX_MODEL_LEN });
    });

    it('tokenizes and detokenizes text back, and counts a conversation', async () => {
      const text = 'Once upon a time, there was a dog.';
      const tokenized = (await (await post('/tokenize', { model: MODEL, prompt: text })).json()) as Record<
        string,
        unknown
      >;
      const tokens = opened.tokenizer.encode(text, { addSpecial: true });
      expect(tokenized).toEqual({ count: tokens.length, max_model_len: MAX_MODEL_LEN, tokens });
      const detokenized = (await (await post('/detokenize', { tokens })).json()) as Record<string, unknown>;
      expect(detokenized).toEqual({ prompt: text });
      const messages = [{ role: 'user', content: 'hi' }];
      const chat = (await (await post('/tokenize', { messages })).json()) as { tokens: number[] };
      expect(chat.tokens).toEqual(
        plainChat(opened.tokenizer).renderToIds(messages, { addGenerationPrompt: true }),
      );
      expect((await post('/detokenize', { tokens: [1, 99999] })).status).toBe(400);
    });

    it('serves a static directory at / behind the API routes, which keep precedence', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'llm-static-'));
      try {
        await writeFile(join(dir, 'index.html'), '<!doctype html><title>page</title>');
        await writeFile(join(dir, 'app.js'), 'export const answer = 42;');
        // A file named like an API route must not shadow the route.
        await writeFile(join(dir, 'health'), 'shadowed');
        const { base: own } = await started(model, { staticDir: dir });
        const index = await fetch(`${own}/`);
        expect(index.status).toBe(200);
        expect(index.headers.get('content-type')).toMatch(/^text\/html/);
        expect(await index.text()).toContain('<title>page</title>');
        const script = await fetch(`${own}/app.js`);
        expect(script.headers.get('content-type')).toMatch(/javascript/);
        expect(await script.text()).toBe('export const answer = 42;');
        const health = await fetch(`${own}/health`);
        expect([health.status, await health.text()]).toEqual([200, '']);
        expect((await fetch(`${own}/v1/models`)).status).toBe(200);
        expect((await fetch(`${own}/missing.js`)).status).toBe(404);
        expect((await fetch(`${own}/../package.json`)).status).toBe(404);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('answers /version and /health', async () => {
      expect(await (await fetch(`${base}/version`)).json()).toEqual({ version: '1.2.3' });
      expect((await fetch(`${base}/health`)).status).toBe(200);
    });

    it("exposes vLLM's metric names and types on /metrics, each with the model_name label", async () => {
      const text = await metrics();
      const types: Record<string, string> = {
        'vllm:num_requests_running': 'gauge',
        'vllm:num_requests_waiting': 'gauge',
        'vllm:kv_cache_usage_perc': 'gauge',
        'vllm:prompt_tokens_total': 'counter',
        'vllm:generation_tokens_total': 'counter',
        'vllm:num_preemptions_total': 'counter',
        'vllm:prefix_cache_queries_total': 'counter',
        'vllm:prefix_cache_hits_total': 'counter',
        'vllm:request_success_total': 'counter',
        'vllm:time_to_first_token_seconds': 'histogram',
        'vllm:inter_token_latency_seconds': 'histogram',
        'vllm:e2e_request_latency_seconds': 'histogram',
        'vllm:request_queue_time_seconds': 'histogram',
        'vllm:cache_config_info': 'gauge',
      };
      for (const [name, type] of Object.entries(types)) {
        expect(text).toContain(`# TYPE ${name} ${type}\n`);
        const series = type === 'histogram' ? `${name}_count` : name;
        expect(text).toMatch(new RegExp(`^${series}\\{[^}]*model_name="${MODEL}"[^}]*\\} `, 'm'));
      }
      // Earlier tests generated tokens and finished requests.
      expect(sample(text, 'vllm:prompt_tokens_total')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:generation_tokens_total')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:request_success_total', 'finished_reason="length"')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:request_success_total', 'finished_reason="stop"')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:time_to_first_token_seconds_count')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:inter_token_latency_seconds_count')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:e2e_request_latency_seconds_count')).toBeGreaterThan(0);
      expect(sample(text, 'vllm:request_queue_time_seconds_count')).toBeGreaterThan(0);
      expect(text).toMatch(/^vllm:time_to_first_token_seconds_bucket\{le="0.001",.*\} /m);
      expect(text).toMatch(/^vllm:inter_token_latency_seconds_bucket\{le="80",.*\} /m);
      expect(text).toMatch(/^vllm:e2e_request_latency_seconds_bucket\{le="7680",.*\} /m);
      const info = text.split('\n').find((line) => line.startsWith('vllm:cache_config_info{'))!;
      expect(info).toContain(`block_size="${model.cacheConfig.blockSize}"`);
      expect(info).toContain(`num_gpu_blocks="${model.cacheConfig.numGpuBlocks}"`);
      expect(info).toMatch(/\} 1$/);
      // No _total counter of prom-client's own and no duplicate suffix.
      expect(text).not.toMatch(/_total_total/);
    });
  });

  it('aborts a stream whose client disconnects: running requests and KV usage return to 0', async () => {
    const own = await servedModel({}, { stepMs: 5 });
    const { base: ownBase } = await started(own);
    const scrape = async () => (await fetch(`${ownBase}/metrics`)).text();
    const controller = new AbortController();
    const response = await fetch(`${ownBase}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    const during = await scrape();
    expect(sample(during, 'vllm:num_requests_running')).toBe(1);
    expect(sample(during, 'vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
    controller.abort();
    await until(async () => {
      const text = await scrape();
      return (
        sample(text, 'vllm:num_requests_running') === 0 && sample(text, 'vllm:kv_cache_usage_perc') === 0
      );
    });
    const after = await scrape();
    expect(sample(after, 'vllm:request_success_total', 'finished_reason="abort"')).toBe(1);
    expect(sample(after, 'vllm:generation_tokens_total')).toBeLessThan(400);
  });

  it('aborts a non-streamed request whose client disconnects (the request signal fires)', async () => {
    const own = await servedModel({}, { stepMs: 5 });
    const { base: ownBase } = await started(own);
    const scrape = async () => (await fetch(`${ownBase}/metrics`)).text();
    const controller = new AbortController();
    const pending = fetch(`${ownBase}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true }),
      signal: controller.signal,
    }).catch(() => 'aborted');
    await until(async () => sample(await scrape(), 'vllm:num_requests_running') === 1);
    controller.abort();
    expect(await pending).toBe('aborted');
    await until(async () => sample(await scrape(), 'vllm:num_requests_running') === 0);
    const after = await scrape();
    expect(sample(after, 'vllm:request_success_total', 'finished_reason="abort"')).toBe(1);
    expect(sample(after, 'vllm:kv_cache_usage_perc')).toBe(0);
  });

  it('ends a stream with an error event when the engine fails, then answers 503 on /health and new requests', async () => {
    const control: StepControl = { stepMs: 5 };
    const own = await servedModel({}, control);
    const { base: ownBase } = await started(own);
    const response = await fetch(`${ownBase}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 400,
        ignore_eos: true,
        stream: true,
      }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    control.fail = true;
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    const last = JSON.parse(sseData(rest).at(-1)!) as { error: { code: string; message: string } };
    expect(last.error.code).toBe('unavailable');
    expect(last.error.message).toMatch(/device lost/);
    const health = await fetch(`${ownBase}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { error: { message: string } }).error.message).toMatch(/device lost/);
    const next = await fetch(`${ownBase}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'hi', max_tokens: 2 }),
    });
    expect(next.status).toBe(503);
  });

  it('shuts down gracefully: the request in flight completes, new requests are refused, shutdown resolves', async () => {
    const own = await servedModel({}, { stepMs: 5 });
    const { server, base: ownBase } = await started(own);
    const response = await fetch(`${ownBase}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 64, ignore_eos: true, stream: true }),
    });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const shutdown = server.shutdown({ timeoutMs: 20_000 });
    const refused = await fetch(`${ownBase}/health`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(refused);
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    const events = sseData(rest);
    expect(events.at(-1)).toBe('[DONE]');
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ choices: [{ finish_reason: 'length' }] });
    await shutdown;
    await expect(fetch(`${ownBase}/version`)).rejects.toThrow();
  });

  it('aborts what is still running when the shutdown times out, with an error event', async () => {
    const own = await servedModel({}, { stepMs: 5 });
    const { server, base: ownBase } = await started(own);
    const response = await fetch(`${ownBase}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 480,
        ignore_eos: true,
        stream: true,
      }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    await server.shutdown({ timeoutMs: 50 });
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    const last = JSON.parse(sseData(rest).at(-1)!) as { error: { code: string; message: string } };
    expect(last.error.code).toBe('unavailable');
    expect(last.error.message).toMatch(/shutting down/);
    expect(own.engine.totals().numRunning).toBe(0);
  });
});
