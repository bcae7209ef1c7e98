import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile, STORY_PROMPTS as PROMPTS } from '@llm/formats/testing';
import { openPeer } from '@llm/llama-cpp-peer';
import { openTokenizer } from '@llm/model/node';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm, startServe, type Served } from './run-llm.test-support.js';
const gguf = modelFile('stories260K.gguf');
const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const synthetic = modelFile('synthetic/gqa-d128-f32.gguf');
const API_KEY = 'sk-serve-test';
// A template of the model's own words (stories260K knows no special tokens), to see --chat-template applied.
const TEMPLATE = "{% for m in messages %}{{ m['role'] | upper }} SAYS: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}STORY:{% endif %}";

describe.skipIf(!gguf)('llm serve', () => {
  let served: Served;
  let client: OpenAI;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-serve-'));
    await writeFile(join(dir, 'template.jinja'), TEMPLATE);
    served = await startServe([
      '--model', gguf!, '--served-model-name', 'stories260K', '--max-num-seqs', '16',
      '--chat-template', join(dir, 'template.jinja'), '--api-key', API_KEY,
    ]);
    client = new OpenAI({ baseURL: `${served.baseUrl}/v1`, apiKey: API_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    if (served?.child.exitCode === null) process.kill(-served.child.pid!, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('answers /health 200 within 120 s and prints the KV cache it allocated', () => {
    expect(served.readyMs).toBeLessThan(120_000);
    expect(served.stderr()).toMatch(/KV cache: \d+ blocks of 16 tokens .*limited by/);
  });

  it("serves concurrent greedy completions token for token as llama.cpp generates them one at a time", async () => {
    const peer = await openPeer(gguf!, { threads: 1 });
    const tokenizer = await openTokenizer(gguf!);
    try {
      const expected: string[] = [];
      for (const prompt of PROMPTS) {
        const ids = tokenizer.encode(prompt, { addSpecial: true });
        const generated = await peer.greedy(ids, 48);
        expected.push(tokenizer.decode(generated, { previousId: ids[ids.length - 1]! }));
      }
      const served = await Promise.all(
        PROMPTS.map((prompt) => client.completions.create({ model: 'stories260K', prompt, max_tokens: 48, temperature: 0 })),
      );
      expect(served.map((r) => r.choices[0]!.text)).toEqual(expected);
    } finally {
      await peer.close();
    }
  });

  it('renders chats with --chat-template and asks for --api-key', async () => {
    expect(served.stderr()).toMatch(/chat template: .*template\.jinja/);
    const messages = [{ role: 'user' as const, content: 'Tell me about a cat.' }];
    const tokenized = await fetch(`${served.baseUrl}/tokenize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ model: 'stories260K', messages }),
    }).then((r) => r.json() as Promise<{ tokens: number[] }>);
    const tokenizer = await openTokenizer(gguf!);
    expect(tokenizer.decode(tokenized.tokens)).toBe('USER SAYS: Tell me about a cat.\nSTORY:');
    const reply = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 16, temperature: 0 });
    expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0);
    const unauthorized = new OpenAI({ baseURL: `${served.baseUrl}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(unauthorized.models.list()).rejects.toMatchObject({ status: 401 });
  });

  it('on SIGTERM to its process group finishes the stream in flight, refuses new requests and exits 0', async () => {
    const stream = await client.completions.create({
      model: 'stories260K',
      prompt: 'Once upon a time',
      max_tokens: 300,
      ignore_eos: true,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    } as OpenAI.CompletionCreateParamsStreaming);
    let chunks = 0;
    let finishReason: string | null | undefined;
    let completionTokens = 0;
    for await (const chunk of stream) {
      if (chunks++ === 0) process.kill(-served.child.pid!, 'SIGTERM');
      if (chunks === 5) {
        // New work is refused while the request in flight finishes.
        const refused = await fetch(`${served.baseUrl}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'Hi', max_tokens: 2 }),
        }).then(
          (r) => r.status,
          () => 'connection refused',
        );
        expect([503, 'connection refused']).toContain(refused);
      }
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    expect(finishReason).toBe('length');
    expect(completionTokens).toBe(300);
    expect(await served.exited).toBe(0);
  });
});

describe('llm serve refuses what it cannot serve', () => {
  it('exits 2 naming a missing model file', async () => {
    const run = await runLlm(['serve', '--model', '/nonexistent/model.gguf', '--port', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/\/nonexistent\/model\.gguf/);
  });

  it.skipIf(!gguf)('exits 2 when --kv-memory cannot hold one sequence, saying what to change', async () => {
    const run = await runLlm(['serve', '--model', gguf!, '--port', '0', '--kv-memory', '64KiB']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/KV cache holds \d+ blocks.*raise --kv-memory/);
  });
});

describe('llm serve on every model in ../shared', () => {
  const models: [string, string[] | undefined][] = [
    ['stories260K.bin with tok512.bin', bin && tok ? ['--model', bin, '--tokenizer', tok] : undefined],
    ['synthetic/gqa-d128-f32.gguf', synthetic ? ['--model', synthetic] : undefined],
  ];
  for (const [name, args] of models) {
    it.skipIf(!args)(`answers /health 200 within 120 s and completes on ${name}`, async () => {
      const served = await startServe([...args!, '--served-model-name', 'm']);
      try {
        expect(served.readyMs).toBeLessThan(120_000);
        const client = new OpenAI({ baseURL: `${served.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
        const completion = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
        expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
      } finally {
        process.kill(-served.child.pid!, 'SIGTERM');
        expect(await served.exited).toBe(0);
      }
    });
  }
});

