import { modelFile } from '@llm/formats/testing';
import { openPeer } from '@llm/llama-cpp-peer';
import { openTokenizer } from '@llm/model/node';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm, startServe, type Served } from './run-llm.test-support.js';
const gguf = modelFile('stories260K.gguf');

// The prompts of the stories260K parity tests: short and long, ASCII quotes included.
const PROMPTS = [
  'Once upon a time',
  'The little cat',
  'Lily and Ben went to the park. They saw',
  'One day, a big bird',
  'Tom had a toy car. He',
  '"Can I play?" asked',
  'The sun was hot and the sky was blue',
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the big park near his house.',
];

describe.skipIf(!gguf)('llm serve', () => {
  let served: Served;
  let client: OpenAI;

  beforeAll(async () => {
    served = await startServe(['--model', gguf!, '--served-model-name', 'stories260K', '--max-num-seqs', '16']);
    client = new OpenAI({ baseURL: `${served.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => {
    if (served?.child.exitCode === null) process.kill(-served.child.pid!, 'SIGKILL');
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
