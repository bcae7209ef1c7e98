import { Generator } from '@llm/engine';
import type { GpuContext } from '@llm/kernels';
import { CpuModelRunner, GpuModelRunner, GREEDY, openModel, type ModelRunner, type OpenedModel } from '@llm/model';

export interface LoadedModel {
  readonly model: OpenedModel;
  readonly runner: ModelRunner;
  readonly generator: Generator;
  close(): Promise<void>;
}

/** Opens a model file on the WebGPU backend (ctx given) or the CPU reference backend. */
export async function loadModel(path: string, ctx: GpuContext | undefined, tokenizerPath?: string): Promise<LoadedModel> {
  const model = await openModel(path, tokenizerPath === undefined ? {} : { tokenizerPath });
  const runner = ctx ? await GpuModelRunner.load(ctx, model.source) : await CpuModelRunner.load(model.source);
  const generator = new Generator(runner, model.tokenizer);
  return {
    model,
    runner,
    generator,
    close: async () => {
      runner.dispose();
      await model.source.close();
    },
  };
}

export async function greedyIds(loaded: LoadedModel, promptIds: readonly number[], maxTokens: number): Promise<number[]> {
  const result = await loaded.generator.generate({ promptIds, maxTokens, sampling: GREEDY });
  return result.tokenIds;
}
