import { Engine } from '@llm/engine';
import { KvCacheManager } from '@llm/kvcache';
import type { GpuContext } from '@llm/kernels';
import {
  CpuModelRunner,
  GpuModelRunner,
  GREEDY,
  type ModelRunner,
  type OpenedModel,
  type RunnerOptions,
} from '@llm/model';
import { openModel } from '@llm/model/node';

export interface LoadedModel {
  readonly model: OpenedModel;
  readonly runner: ModelRunner;
  readonly engine: Engine;
  close(): Promise<void>;
}

/** Opens a model file on the WebGPU backend (ctx given) or the CPU reference backend. */
export async function loadModel(
  path: string,
  ctx: GpuContext | undefined,
  tokenizerPath?: string,
  runnerOptions: RunnerOptions = {},
): Promise<LoadedModel> {
  const model = await openModel(path, tokenizerPath === undefined ? {} : { tokenizerPath });
  const runner = ctx
    ? await GpuModelRunner.load(ctx, model.source, runnerOptions)
    : await CpuModelRunner.load(model.source, runnerOptions);
  const engine = new Engine(runner, model.tokenizer);
  return {
    model,
    runner,
    engine,
    close: async () => {
      runner.dispose();
      await model.source.close();
    },
  };
}

export async function greedyIds(
  loaded: LoadedModel,
  promptIds: readonly number[],
  maxTokens: number,
): Promise<number[]> {
  const result = await loaded.engine.complete({ promptIds, maxTokens, sampling: { temperature: 0 } });
  return [...result.completions[0]!.tokenIds];
}

/**
 * Greedy generation for several prompts at once: all prompts are prefilled in one step, then every
 * step decodes one token of each sequence still running, K/V blocks from a paged allocator. This
 * is the packed variable-length batch path (prefill and decode attention over ragged sequences).
 */
export async function batchedGreedyIds(
  runner: ModelRunner,
  prompts: readonly number[][],
  maxTokens: number,
  eog: ReadonlySet<number>,
): Promise<number[][]> {
  const kv = new KvCacheManager({
    numBlocks: runner.numBlocks,
    blockSize: runner.blockSize,
    enablePrefixCaching: false,
  });
  const outputs = prompts.map(() => [] as number[]);
  prompts.forEach((p, i) => kv.allocate(i, p));
  const sampling = (n: number) => Array.from({ length: n }, (_, chunk) => ({ chunk, params: GREEDY, u: 0 }));
  let { tokens: next } = await runner.step(
    prompts.map((p, i) => ({ tokens: p, startPos: 0, blockTable: kv.blockTable(i) })),
    sampling(prompts.length),
  );
  let running = prompts.map((_, i) => i);
  for (;;) {
    const still: number[] = [];
    running.forEach((seq, j) => {
      const token = next[j]!;
      outputs[seq]!.push(token);
      if (!eog.has(token) && outputs[seq]!.length < maxTokens) still.push(seq);
    });
    if (still.length === 0) break;
    const chunks = still.map((seq) => {
      const token = outputs[seq]!.at(-1)!;
      const start = kv.numTokens(seq);
      kv.append(seq, [token]);
      return { tokens: [token], startPos: start, blockTable: kv.blockTable(seq) };
    });
    ({ tokens: next } = await runner.step(chunks, sampling(chunks.length)));
    running = still;
  }
  return outputs;
}
