import { Generator } from '@llm/engine';
import { GpuContext } from '@llm/kernels';
import { CpuModelRunner, GpuModelRunner, type ModelRunner, type RunnerOptions } from '@llm/model';
import { openModel } from '@llm/model/node';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import type { generateSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';

export async function generateCommand({ values }: ParsedOptions<typeof generateSpec>): Promise<void> {
  if (values.prompt !== undefined && values['prompt-ids'] !== undefined) {
    throw new CliUsageError('give either --prompt or --prompt-ids, not both');
  }
  const { backend, temperature } = values;
  const seed = values.seed ?? Math.floor(Math.random() * 2 ** 31);
  const promptIds = values['prompt-ids'] === undefined ? undefined : parseIds(values['prompt-ids']);

  const model = await openModel(
    values.model,
    values.tokenizer === undefined ? {} : { tokenizerPath: values.tokenizer },
  );
  try {
    const tokenizer = model.tokenizer;
    let prompt: number[];
    if (promptIds) prompt = promptIds;
    else if (values.prompt !== undefined) prompt = tokenizer.encode(values.prompt, { addSpecial: true });
    else if (tokenizer.bosId !== undefined) prompt = [tokenizer.bosId];
    else throw new CliUsageError('this tokenizer has no BOS token: give --prompt or --prompt-ids');

    const maxTokens = capToContext(values['max-tokens'], prompt.length, model.source.config.contextLength);
    const runner = await createRunner(backend, model.source, { kvDtype: values['kv-dtype'] });
    try {
      const generator = new Generator(runner, tokenizer);
      const streamText = !values.json;
      const result = await generator.generate({
        promptIds: prompt,
        maxTokens,
        sampling: { temperature, topP: values['top-p'], topK: values['top-k'], minP: values['min-p'] },
        seed,
        ...(streamText ? { onToken: (_id: number, delta: string) => void process.stdout.write(delta) } : {}),
      });
      // Text output ends with a newline, as line-oriented tools expect; the model's own text may not.
      if (streamText && !result.text.endsWith('\n')) process.stdout.write('\n');
      else if (!streamText) {
        process.stdout.write(
          `${JSON.stringify({
            backend: runner.backend,
            adapter: runner.adapterName,
            promptTokenIds: result.promptTokenIds,
            tokenIds: result.tokenIds,
            text: result.text,
            finishReason: result.finishReason,
            seed,
            timings: result.timings,
          })}\n`,
        );
      }
      process.stderr.write(
        `[llm] ${result.tokenIds.length} tokens, prefill ${result.timings.prefillMs.toFixed(1)} ms, ` +
          `decode ${result.timings.decodeTokensPerSecond.toFixed(2)} tokens/s (${runner.backend}: ${runner.adapterName})\n`,
      );
    } finally {
      runner.dispose();
    }
  } finally {
    await model.source.close();
  }
}

/** Tokens the model can still generate after the prompt; a larger --max-tokens is capped with a warning. */
function capToContext(maxTokens: number, promptLength: number, contextLength: number): number {
  const room = contextLength - promptLength;
  // A prompt that fills the context is the generator's error to report, with its own message.
  if (maxTokens <= room || room < 1) return maxTokens;
  process.stderr.write(
    `[llm] warning: --max-tokens ${maxTokens} is beyond the model's context of ${contextLength} tokens ` +
      `(${promptLength} in the prompt): generating at most ${room}\n`,
  );
  return room;
}

function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new CliUsageError(`--prompt-ids expects comma-separated token ids, got '${text}'`);
  }
  return parts.map(Number);
}

async function createRunner(
  backend: 'auto' | 'webgpu' | 'cpu',
  source: Parameters<typeof GpuModelRunner.load>[1],
  options: RunnerOptions,
): Promise<ModelRunner> {
  if (backend !== 'cpu') {
    let ctx: GpuContext | undefined;
    try {
      ctx = await GpuContext.create();
    } catch (error) {
      if (backend === 'webgpu') throw error;
      process.stderr.write(`[llm] warning: no WebGPU adapter (${String(error)}); using the cpu backend\n`);
    }
    if (ctx) return GpuModelRunner.load(ctx, source, options, progressLine('loading weights'));
  }
  return CpuModelRunner.load(source, options, progressLine('loading weights'));
}
