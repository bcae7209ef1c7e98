import { GpuContext } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { CpuModelRunner, GpuModelRunner, type ModelRunner, type RunnerOptions } from '@llm/model';
import { progressLine } from '../progress.js';

export type Backend = 'auto' | 'webgpu' | 'cpu';

/**
 * The runner, with the GPU context it runs on (none on the cpu backend). `options` may be computed
 * from the context (a KV pool sized to the adapter's limits). A second runner may share the first
 * one's context (`shared`).
 */
export async function createRunner(
  backend: Backend,
  source: Parameters<typeof GpuModelRunner.load>[1],
  options: RunnerOptions | ((ctx: GpuContext | undefined) => RunnerOptions),
  shared?: GpuContext,
): Promise<{ runner: ModelRunner; ctx?: GpuContext }> {
  const optionsFor = (ctx: GpuContext | undefined) => (typeof options === 'function' ? options(ctx) : options);
  if (shared && backend !== 'cpu') {
    return {
      runner: await GpuModelRunner.load(shared, source, optionsFor(shared), progressLine('loading weights')),
      ctx: shared,
    };
  }
  if (backend !== 'cpu') {
    let ctx: GpuContext | undefined;
    try {
      ctx = await GpuContext.create();
    } catch (error) {
      if (backend === 'webgpu') throw error;
      process.stderr.write(`[llm] warning: no WebGPU adapter (${String(error)}); using the cpu backend\n`);
    }
    if (ctx) {
      // On lavapipe the main thread only waits on the GPU: let the adapter's threads have the cores.
      yieldHostThread(ctx);
      return {
        runner: await GpuModelRunner.load(ctx, source, optionsFor(ctx), progressLine('loading weights')),
        ctx,
      };
    }
  }
  return { runner: await CpuModelRunner.load(source, optionsFor(undefined), progressLine('loading weights')) };
}

/**
 * Tokens the model can still generate after the prompt; a larger request is capped with a warning
 * that names where it came from (`subject`, e.g. '--max-tokens 300').
 */
export function capToContext(
  maxTokens: number,
  promptLength: number,
  contextLength: number,
  subject: string,
): number {
  const room = contextLength - promptLength;
  // A prompt that fills the context is the generator's error to report, with its own message.
  if (maxTokens <= room || room < 1) return maxTokens;
  process.stderr.write(
    `[llm] warning: ${subject} is beyond the model's context of ${contextLength} tokens ` +
      `(${promptLength} in the prompt): generating at most ${room}\n`,
  );
  return room;
}
