import { Engine, type GenerationResult } from '@llm/engine';
import { formatProfile, summarizeProfile, type GpuContext, type KernelProfile, type ProfileSummary } from '@llm/kernels';
import { errorCodeOf, LlmError } from '@llm/quant';
import { openModel } from '@llm/model/node';
import { CliUsageError } from '../cli-error.js';
import type { generateSpec } from './command-specs.js';
import { capToContext, createRunner } from './create-runner.js';
import { generationJson } from './generation-json.js';
import { grammarOption } from './grammar-file.js';
import { resolveModelArgument } from './model-argument.js';
import { w8a8Option } from './w8a8-option.js';
import type { ParsedOptions } from './parse-options.js';

export async function generateCommand({ values }: ParsedOptions<typeof generateSpec>): Promise<void> {
  if (values.profile && values.backend === 'cpu') {
    throw new CliUsageError('--profile times the GPU kernels: it needs --backend webgpu or auto, not cpu');
  }
  const batchFile = values['batch-file'];
  if (batchFile !== undefined) {
    const clashing = (['prompt', 'prompt-ids'] as const).filter((name) => values[name] !== undefined);
    if (clashing.length > 0) {
      throw new CliUsageError(`--batch-file takes its prompts from the file: drop --${clashing.join(' and --')}`);
    }
    // Loaded on demand, as the commands are: a single prompt never reads it.
    await (await import('./generate-batch.js')).generateBatch(values, batchFile);
    return;
  }
  if (values['max-num-seqs'] !== undefined) {
    throw new CliUsageError('--max-num-seqs sizes the batch of --batch-file; a single prompt runs alone');
  }
  if (values.prompt !== undefined && values['prompt-ids'] !== undefined) {
    throw new CliUsageError('give either --prompt or --prompt-ids, not both');
  }
  const { backend, temperature } = values;
  const seed = values.seed ?? Math.floor(Math.random() * 2 ** 31);
  const grammar = await grammarOption(values);
  const promptIds = values['prompt-ids'] === undefined ? undefined : parseIds(values['prompt-ids']);

  const resolved = await resolveModelArgument(values.model);
  const tokenizerPath = values.tokenizer ?? resolved.tokenizerPath;
  const model = await openModel(resolved.path, tokenizerPath === undefined ? {} : { tokenizerPath });
  try {
    const tokenizer = model.tokenizer;
    let prompt: number[];
    if (promptIds) prompt = promptIds;
    else if (values.prompt !== undefined) prompt = tokenizer.encode(values.prompt, { addSpecial: true });
    else if (tokenizer.bosId !== undefined) prompt = [tokenizer.bosId];
    else throw new CliUsageError('this tokenizer has no BOS token: give --prompt or --prompt-ids');

    const maxTokens = capToContext(
      values['max-tokens'],
      prompt.length,
      model.source.config.contextLength,
      `--max-tokens ${values['max-tokens']}`,
    );
    const w8a8 = await w8a8Option(values.w8a8, backend, tokenizer, model.source.config.contextLength);
    const { runner, ctx } = await createRunner(backend, model.source, { kvDtype: values['kv-dtype'], activations: values.activations, ...(w8a8 ? { w8a8 } : {}) });
    try {
      // The profile splits prefill from decode when the first token comes back: no step may be
      // submitted before that.
      const engine = new Engine(runner, tokenizer, { overlapSteps: !values.profile });
      if (grammar) await engine.prepareGrammar(grammar);
      const profile = values.profile ? startProfile(ctx, engine) : undefined;
      const streamText = !values.json;
      const stream = engine.generate({
        promptIds: prompt,
        maxTokens,
        sampling: { temperature, topP: values['top-p'], topK: values['top-k'], minP: values['min-p'] },
        seed,
        ...(grammar ? { grammar } : {}),
      });
      for await (const delta of stream) if (streamText) process.stdout.write(delta.text);
      const generation = await stream.result();
      const result = generation.completions[0]!;
      const json = generationJson(runner, generation, seed);
      const { timings } = json;
      const profiles = profile ? await profile.stop(generation) : undefined;
      // Text output ends with a newline, as line-oriented tools expect; the model's own text may not.
      if (streamText && !result.text.endsWith('\n')) process.stdout.write('\n');
      else if (!streamText) {
        process.stdout.write(`${JSON.stringify({ ...json, ...(profiles ? { profile: profiles } : {}) })}\n`);
      }
      process.stderr.write(
        `[llm] ${result.tokenIds.length} tokens, prefill ${timings.prefillMs.toFixed(1)} ms, ` +
          `decode ${timings.decodeTokensPerSecond.toFixed(2)} tokens/s (${runner.backend}: ${runner.adapterName})\n`,
      );
      if (profiles) {
        process.stderr.write(PROFILE_HEADER);
        for (const phase of ['prefill', 'decode'] as const) {
          const summary = profiles[phase];
          if (summary) process.stderr.write(formatProfile(summary, `[llm] ${phase}`));
        }
      }
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

/** The per-token kernel profiles of --profile; null for a phase that ran no step. */
interface GenerateProfiles {
  prefill: ProfileSummary | null;
  decode: ProfileSummary | null;
}

/**
 * Profiles the prefill steps and the decode steps apart: the first profile stops and the second
 * starts when the step that samples the first token is done.
 */
function startProfile(
  gpu: GpuContext | undefined,
  engine: Engine,
): { stop: (result: GenerationResult) => Promise<GenerateProfiles> } {
  const ctx = startKernelProfile(gpu);
  let prefill: Promise<KernelProfile> | undefined;
  const unsubscribe = engine.onStep((step) => {
    if (prefill || step.sampled.length === 0) return;
    prefill = ctx.stopProfile();
    ctx.startProfile();
  });
  return {
    stop: async (result) => {
      unsubscribe();
      const decode = await ctx.stopProfile();
      const summary = (profile: KernelProfile | undefined, tokens: number) =>
        profile && profile.steps > 0 && tokens > 0 ? summarizeProfile(profile, tokens) : null;
      return {
        // Per prompt token prefilled; per generated token after the first (one decode step each).
        prefill: summary(await prefill, result.promptTokenIds.length - result.cachedPromptTokens),
        decode: summary(decode, result.completions[0]!.tokenIds.length - 1),
      };
    },
  };
}

/** What --profile prints on stderr before its tables. */
export const PROFILE_HEADER = '[llm] kernel profile: GPU time from timestamp queries, each dispatch in its own pass\n';

/**
 * Starts the kernel profile of --profile on the runner's context: none (no WebGPU adapter) is a
 * usage error, an adapter without timestamp queries an 'unsupported' LlmError.
 */
export function startKernelProfile(ctx: GpuContext | undefined): GpuContext {
  if (!ctx) throw new CliUsageError('--profile times the GPU kernels, and there is no WebGPU adapter');
  try {
    ctx.startProfile();
    return ctx;
  } catch (error) {
    if (errorCodeOf(error) !== 'unsupported') throw error;
    throw new LlmError('unsupported', `--profile: ${(error as Error).message}`, { cause: error });
  }
}
