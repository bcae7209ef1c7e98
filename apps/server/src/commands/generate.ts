import { Generator } from '@llm/engine';
import { GpuContext } from '@llm/kernels';
import { CpuModelRunner, GpuModelRunner, type ModelRunner, type RunnerOptions } from '@llm/model';
import { openModel } from '@llm/model/node';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import { intOption, numberOption, parseOptions } from './parse-options.js';

export async function generateCommand(args: string[]): Promise<void> {
  const { values } = parseOptions(args, {
    model: { type: 'string' },
    tokenizer: { type: 'string' },
    prompt: { type: 'string' },
    'prompt-ids': { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    'top-k': { type: 'string' },
    'min-p': { type: 'string' },
    seed: { type: 'string' },
    backend: { type: 'string' },
    'kv-dtype': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!values.model) throw new CliUsageError('--model PATH is required');
  if (values.prompt !== undefined && values['prompt-ids'] !== undefined) {
    throw new CliUsageError('give either --prompt or --prompt-ids, not both');
  }
  const backend = values.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'webgpu' && backend !== 'cpu') {
    throw new CliUsageError(`--backend must be auto, webgpu or cpu, got '${backend}'`);
  }
  const kvDtype = values['kv-dtype'] ?? 'f32';
  if (kvDtype !== 'f32' && kvDtype !== 'f16') {
    throw new CliUsageError(`--kv-dtype must be f32 or f16, got '${kvDtype}'`);
  }
  const maxTokens = intOption('max-tokens', values['max-tokens'], 256, 1);
  const temperature = numberOption('temperature', values.temperature, 0.8);
  const topP = numberOption('top-p', values['top-p'], 0.95);
  const topK = intOption('top-k', values['top-k'], 40);
  const minP = numberOption('min-p', values['min-p'], 0.05);
  if (temperature < 0) throw new CliUsageError('--temperature must be >= 0');
  if (!(topP > 0 && topP <= 1)) throw new CliUsageError('--top-p must be in (0, 1]');
  if (!(minP >= 0 && minP < 1)) throw new CliUsageError('--min-p must be in [0, 1)');
  const seed = intOption('seed', values.seed, Math.floor(Math.random() * 2 ** 31));
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

    const runner = await createRunner(backend, model.source, { kvDtype });
    try {
      const generator = new Generator(runner, tokenizer);
      const streamText = !values.json;
      const result = await generator.generate({
        promptIds: prompt,
        maxTokens,
        sampling: { temperature, topP, topK, minP },
        seed,
        ...(streamText ? { onToken: (_id: number, delta: string) => void process.stdout.write(delta) } : {}),
      });
      // The text ends where the model stopped; a newline only keeps an interactive prompt tidy.
      if (streamText && process.stdout.isTTY) process.stdout.write('\n');
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
