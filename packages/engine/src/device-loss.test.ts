import { modelFile } from '@llm/formats/testing';
import { GpuContext } from '@llm/kernels';
import { GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { errorCodeOf } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { Engine } from './engine.js';

const gguf = modelFile('stories260K.gguf');
// Its own device: the test destroys it.
const ctx = await GpuContext.create().catch(() => undefined);
if (process.env['CI'] === 'true' && !ctx) throw new Error('CI=true but no WebGPU adapter: the device-loss tests must run');

describe.skipIf(!gguf || !ctx)('Engine on a lost device', () => {
  it('fails every request in flight with an unavailable error, reports it as failure and refuses new requests', async () => {
    const model = await openModel(gguf!);
    const runner = await GpuModelRunner.load(ctx!, model.source, { maxSeqs: 4, maxModelLen: 512 });
    try {
      const engine = new Engine(runner, model.tokenizer);
      expect(engine.failure).toBeUndefined();
      const streams = [0, 1, 2].map(() =>
        engine.generate({ prompt: 'Once upon a time', maxTokens: 400, ignoreEos: true, sampling: { temperature: 0 } }),
      );
      let seen = 0;
      const failures = await Promise.all(
        streams.map(async (stream, i) => {
          try {
            for await (const delta of stream) {
              if (i === 0 && (seen += delta.tokenIds.length) === 5) ctx!.device.destroy();
            }
            return undefined;
          } catch (error) {
            return error;
          }
        }),
      );
      for (const failure of failures) {
        expect(errorCodeOf(failure)).toBe('unavailable');
        expect(String(failure)).toMatch(/device lost|destroyed/i);
      }
      expect(errorCodeOf(engine.failure)).toBe('unavailable');
      expect(() => engine.generate({ prompt: 'Hi', maxTokens: 2 })).toThrow(/device lost|destroyed/i);
    } finally {
      runner.dispose();
      await model.source.close();
    }
  });

  it('reports a device lost while idle before any request runs into it', async () => {
    const idleCtx = await GpuContext.create();
    const model = await openModel(gguf!);
    const runner = await GpuModelRunner.load(idleCtx, model.source, { maxSeqs: 2, maxModelLen: 512 });
    try {
      const engine = new Engine(runner, model.tokenizer);
      idleCtx.device.destroy();
      await idleCtx.device.lost;
      expect(errorCodeOf(engine.failure)).toBe('unavailable');
      expect(() => engine.generate({ prompt: 'Hi', maxTokens: 2 })).toThrow(/device lost/i);
    } finally {
      runner.dispose();
      await model.source.close();
    }
  });
});
