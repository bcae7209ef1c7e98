import { Engine } from '@llm/engine';
import { modelFile } from '@llm/formats/testing';
import { CpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { LlmServer } from '@llm/server';
import { ChatPrompter, ChatTemplate } from '@llm/tokenizer';
import { describe, expect, it } from 'vitest';
import { HEALTH_PATH, METRICS_PATH, SERVER_METRICS } from './server-contract.js';

const gguf = modelFile('stories260K.gguf');

describe.skipIf(!gguf)('what the manifests expect of llm serve', () => {
  it('is what the server exposes: /health, and on /metrics the gauges the endpoint picker reads, with model_name', async () => {
    const model = await openModel(gguf!);
    const runner = await CpuModelRunner.load(model.source, { maxSeqs: 2, maxModelLen: 256 });
    const server = new LlmServer({ version: 'test' });
    server.attach({
      name: 'stories',
      engine: new Engine(runner, model.tokenizer),
      tokenizer: model.tokenizer,
      chat: new ChatPrompter(model.tokenizer, ChatTemplate.fallback()),
      maxModelLen: 256,
      cacheConfig: { blockSize: runner.blockSize, numGpuBlocks: runner.numBlocks },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      expect((await fetch(`http://127.0.0.1:${port}${HEALTH_PATH}`)).status).toBe(200);
      const exposition = await (await fetch(`http://127.0.0.1:${port}${METRICS_PATH}`)).text();
      for (const name of Object.values(SERVER_METRICS)) {
        expect(exposition).toMatch(new RegExp(`^# TYPE ${name} gauge$`, 'm'));
        expect(exposition).toMatch(new RegExp(`^${name}\\{[^}]*model_name="stories"[^}]*\\} `, 'm'));
      }
    } finally {
      await server.shutdown({ timeoutMs: 1000 });
      await model.source.close();
    }
  });
});
