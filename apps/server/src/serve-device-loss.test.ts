import { Engine } from '@llm/engine';
import { modelFile } from '@llm/formats/testing';
import { GpuContext } from '@llm/kernels';
import { GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { LlmServer } from '@llm/server';
import { ChatPrompter, ChatTemplate } from '@llm/tokenizer';
import { describe, expect, it } from 'vitest';

const gguf = modelFile('stories260K.gguf');
const ctx = await GpuContext.create().catch(() => undefined);
if (process.env['CI'] === 'true' && !ctx) throw new Error('CI=true but no WebGPU adapter: the device-loss test must run');

/** The SSE events of a response body, parsed, until the stream ends. */
async function* events(response: Response): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = event.replace(/^data: /, '');
      if (data !== '[DONE]') yield JSON.parse(data);
    }
  }
}

describe.skipIf(!gguf || !ctx)('a lost GPU device', () => {
  it('fails the requests in flight with 503 error objects, turns /health 503 and leaves the process serving', async () => {
    const model = await openModel(gguf!);
    const runner = await GpuModelRunner.load(ctx!, model.source, { maxSeqs: 4 });
    const engine = new Engine(runner, model.tokenizer);
    const server = new LlmServer({ version: 'test' });
    server.attach({
      name: 'stories260K',
      engine,
      tokenizer: model.tokenizer,
      chat: new ChatPrompter(model.tokenizer, ChatTemplate.fallback({})),
      maxModelLen: runner.config.contextLength,
      cacheConfig: { blockSize: runner.blockSize, numGpuBlocks: runner.numBlocks },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${port}`;
    try {
      const health = await fetch(`${base}/health`);
      expect(health.status, await health.text()).toBe(200);
      const post = (body: object) =>
        fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const streamed = post({ prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true, stream: true });
      const plain = post({ prompt: 'The little cat', max_tokens: 400, ignore_eos: true });
      const received: unknown[] = [];
      for await (const event of events(await streamed)) {
        received.push(event);
        // Lost mid-generation: the device goes away under the step loop.
        if (received.length === 3) ctx!.device.destroy();
      }
      const last = received[received.length - 1] as { error?: { code: unknown; message: string } };
      expect(last.error?.message).toMatch(/device lost/i);
      const plainResponse = await plain;
      expect(plainResponse.status).toBe(503);
      expect(((await plainResponse.json()) as { error: { message: string } }).error.message).toMatch(/device lost/i);
      expect((await fetch(`${base}/health`)).status).toBe(503);
      const after = await post({ prompt: 'Hi', max_tokens: 2 });
      expect(after.status).toBe(503);
      expect(await after.json()).toMatchObject({ error: { type: expect.any(String), message: expect.stringMatching(/device lost/i) } });
      // The process stays up: what needs no device still answers.
      expect((await fetch(`${base}/metrics`)).status).toBe(200);
      expect((await fetch(`${base}/version`)).status).toBe(200);
    } finally {
      await server.shutdown({ timeoutMs: 1000 });
      runner.dispose();
      await model.source.close();
    }
  });
});
