import { Generator } from '@llm/engine';
import { GpuContext } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { GREEDY, GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
const ctx = await GpuContext.create();
yieldHostThread(ctx);
const model = await openModel(process.argv[2]!);
let t = performance.now();
const runner = await GpuModelRunner.load(ctx, model.source, { maxSeqs: 1 });
console.log('load ms', (performance.now() - t).toFixed(0));
const gen = new Generator(runner, model.tokenizer, { enablePrefixCaching: false });
const prompt = Array.from({ length: 128 }, (_, i) => (i * 37) % 32000 + 1);
const sampled = { temperature: 0.8, topP: 0.95, topK: 40, minP: 0 };
for (let r = 0; r < 3; r++) {
  for (const [name, sampling] of [['greedy', GREEDY], ['sampled', sampled]] as const) {
    const res = await gen.generate({ promptIds: prompt, maxTokens: 16, sampling, seed: 1 });
    console.log(name, 'prefill ms', res.timings.prefillMs.toFixed(0), 'tok/s', res.timings.decodeTokensPerSecond.toFixed(2));
  }
}
runner.dispose(); ctx.destroy();
