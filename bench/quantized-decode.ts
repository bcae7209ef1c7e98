// `pnpm bench quantized-decode [--runs N] [--tokens N]`: batch-1 greedy decode of the 110M shape
// (dim 768, 12 layers, vocab 32000) with F16 weights and with Q8_0, Q4_0 and Q4_K weights read in
// place, on this engine only. The models are loaded side by side and measured in interleaved
// rounds, so a shared machine's load spreads over every type alike. Prints one JSON object on
// stdout: tokens/s per run and the median per type.
import { Engine } from '@llm/engine';
import { GpuContext } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import type { SyntheticQuantization } from '@llm/formats';
import { progress } from './console-report.js';
import { ensureSyntheticModel } from './decode-models.js';

const TYPES: readonly { name: string; quantize?: SyntheticQuantization }[] = [
  { name: 'f16' },
  { name: 'q8_0', quantize: { matrices: 'q8_0' } },
  { name: 'q4_0', quantize: { matrices: 'q4_0' } },
  { name: 'q4_k', quantize: { matrices: 'q4_k' } },
];

function option(args: readonly string[], flag: string, fallback: number): number {
  const at = args.indexOf(flag);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} takes a positive integer`);
  return value;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export async function main(args: readonly string[]): Promise<void> {
  const runs = option(args, '--runs', 3);
  const tokens = option(args, '--tokens', 16);
  const ctx = await GpuContext.create();
  yieldHostThread(ctx);
  const loaded: { name: string; engine: Engine; runner: GpuModelRunner; gpuBytes: number; close: () => Promise<void> }[] = [];
  for (const t of TYPES) {
    const path = await ensureSyntheticModel(`llama110m-${t.name}.gguf`, {
      preset: 'llama110m',
      dtype: 'f16',
      ...(t.quantize ? { quantize: t.quantize } : {}),
    });
    progress(`loading ${path}`);
    const model = await openModel(path);
    const before = ctx.liveBuffers.bytes;
    const runner = await GpuModelRunner.load(ctx, model.source, { maxSeqs: 1, maxModelLen: 512 });
    const engine = new Engine(runner, model.tokenizer);
    loaded.push({
      name: t.name,
      engine,
      runner,
      gpuBytes: ctx.liveBuffers.bytes - before - runner.kvPoolBytes,
      close: async () => {
        runner.dispose();
        await model.source.close();
      },
    });
  }
  // A fixed prompt of ordinary tokens; the first sampled token ends its prefill, untimed.
  const promptIds = [1, ...Array.from({ length: 31 }, (_, i) => 300 + ((i * 977) % 20000))];
  const decode = async (engine: Engine): Promise<number> => {
    const result = await engine.complete({ promptIds, maxTokens: tokens + 1, sampling: { temperature: 0 } });
    const times = result.completions[0]!.tokenTimesMs;
    return ((times.length - 1) * 1000) / (times.at(-1)! - times[0]!);
  };
  for (const m of loaded) await decode(m.engine); // warm-up
  const perRun = new Map<string, number[]>(loaded.map((m) => [m.name, []]));
  for (let run = 0; run < runs; run++) {
    for (const m of loaded) {
      const tps = await decode(m.engine);
      perRun.get(m.name)!.push(tps);
      progress(`run ${run + 1}/${runs} ${m.name}: ${tps.toFixed(2)} tok/s`);
    }
  }
  const result = {
    adapter: ctx.adapterName,
    model: 'synthetic llama110m (dim 768, 12 layers, vocab 32000), every matrix in the type',
    decodeTokens: tokens,
    promptTokens: promptIds.length,
    types: loaded.map((m) => ({
      type: m.name,
      gpuBytesLessKvPool: m.gpuBytes,
      tokensPerSecond: perRun.get(m.name)!.map((v) => Number(v.toFixed(2))),
      median: Number(median(perRun.get(m.name)!).toFixed(2)),
    })),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  for (const m of loaded) await m.close();
  ctx.destroy();
}
