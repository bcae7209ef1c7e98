// This engine in the decode benchmark: the public APIs a user would call (GpuContext,
// GpuModelRunner, Engine), one sequence at a time.
import { Engine, type GenerationResult } from '@llm/engine';
import { basename } from 'node:path';
import { formatProfile, GpuContext, summarizeProfile } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { progress } from './console-report.js';
import {
  decodePrompt,
  longContextPrompt,
  prefillPrompt,
  type CaseSpec,
  type DecodeEngine,
  type EngineStart,
  type Measurement,
  type OpenedCase,
} from './decode-engine.js';
import { adapterMethod, measureAdapter } from './roofline.js';

// One step can prefill a 1024-token prompt whole, as llama.cpp's default batch of 512 does in two.
const MAX_STEP_TOKENS = 1024;

interface OpenModel {
  spec: CaseSpec;
  runner: GpuModelRunner;
  engine: Engine;
  close(): Promise<void>;
  decodePrompt: number[];
  longPrompt: number[] | null;
}

export class OursDecodeEngine implements DecodeEngine {
  private ctx: GpuContext | undefined;
  private readonly models: OpenModel[] = [];

  async start(): Promise<EngineStart> {
    const ctx = await GpuContext.create();
    this.ctx = ctx;
    // Before anything is measured, the roofline included: every figure of this engine is taken
    // with the JavaScript thread yielding the cores to lavapipe's threads.
    const yielded = yieldHostThread(ctx);
    progress(`ours: measuring the adapter's bandwidth (${ctx.adapterName})`);
    const roofline = await measureAdapter(ctx.device);
    return {
      details: { hostThreadYielded: yielded, adapterRoofline: { ...roofline, method: adapterMethod } },
    };
  }

  async open(spec: CaseSpec): Promise<OpenedCase> {
    if (this.ctx === undefined) throw new Error('start() the engine before opening a model');
    const model = await openModel(spec.modelPath);
    let lastPrinted = 0;
    const runner = await GpuModelRunner.load(
      this.ctx,
      model.source,
      { maxSeqs: 1, maxStepTokens: MAX_STEP_TOKENS, activations: spec.activations ?? 'f32' },
      (done, total) => {
        if (done === total || performance.now() - lastPrinted > 5000) {
          lastPrinted = performance.now();
          progress(`ours: uploading weights ${done}/${total}`);
        }
      },
    );
    const vocabSize = model.source.config.vocabSize;
    // The prefix cache keeps each prompt's full blocks after its request: every decode run finds
    // its context cached and recomputes only the last partial block, untimed.
    const engine = new Engine(runner, model.tokenizer, { enablePrefixCaching: true });
    const open: OpenModel = {
      spec,
      runner,
      engine,
      close: async () => {
        runner.dispose();
        await model.source.close();
      },
      decodePrompt: decodePrompt(spec, vocabSize),
      longPrompt:
        spec.longContextTokens === null ? null : longContextPrompt(spec.longContextTokens, vocabSize),
    };
    try {
      return await this.warmUp(this.ctx, open);
    } catch (error) {
      // Only models that opened are counted: measurements address them by their open order.
      await open.close();
      throw error;
    }
  }

  /** Warms an opened model up and fills its contexts (untimed), then holds it for measuring. */
  private async warmUp(ctx: GpuContext, open: OpenModel): Promise<OpenedCase> {
    const { spec, runner, engine } = open;
    progress('ours: warm-up (pipeline compilation, first steps)');
    // The runner compiled its pipelines while loading; this runs the first steps of each shape.
    await this.generate(open, open.decodePrompt, 2);
    let cacheFill = `prefill of the ${spec.decodePromptTokens}-token prompt, kept by the prefix cache`;
    let fillSeconds: number | null = null;
    if (open.longPrompt !== null) {
      const started = performance.now();
      if (spec.computeLongContext) {
        progress(`ours: prefilling the ${open.longPrompt.length}-token context`);
        await this.generate(open, open.longPrompt, 1);
        cacheFill += `; the long context likewise (${open.longPrompt.length} tokens)`;
      } else {
        registerContext(engine, open.longPrompt);
        cacheFill +=
          `; the long context's ${open.longPrompt.length} positions are allocated in the paged KV pool and ` +
          'registered as a cached prefix without being computed (K/V hold whatever the pool held): ' +
          'each decode step reads and weighs every position as after a prefill, and a prefill of ' +
          'them would take minutes on lavapipe';
      }
      fillSeconds = (performance.now() - started) / 1000;
      await this.generate(open, open.longPrompt, 2);
    }
    if (spec.profile) await this.profileDecode(open);
    this.models.push(open);
    return {
      adapter: ctx.adapterName,
      cacheFill,
      details: {
        engine: 'webgpu',
        kvDtype: runner.kvDtype,
        kvPoolBytes: runner.kvPoolBytes,
        blockSize: runner.blockSize,
        maxStepTokens: runner.maxStepTokens,
        longContextFillSeconds: fillSeconds,
      },
    };
  }

  async measure(measurement: Measurement): Promise<number> {
    const open = this.opened(measurement.model);
    switch (measurement.figure) {
      case 'decode':
        return this.decodeFrom(open, open.decodePrompt);
      case 'decodeAtLongContext':
        if (open.longPrompt === null) throw new Error('this model has no long context to decode from');
        return this.decodeFrom(open, open.longPrompt);
      case 'prefill': {
        const prompt = prefillPrompt(measurement.promptTokens, measurement.run, open.runner.config.vocabSize);
        const result = await this.generate(open, prompt, 1);
        if (result.cachedPromptTokens !== 0) {
          throw new Error(`a prefill run found ${result.cachedPromptTokens} of its tokens cached`);
        }
        return prompt.length / ((result.metrics.firstTokenMs! - result.metrics.arrivalMs) / 1000);
      }
    }
  }

  async close(): Promise<void> {
    const models = this.models.splice(0);
    for (const open of models) await open.close();
  }

  private async decodeFrom(open: OpenModel, context: number[]): Promise<number> {
    const { spec, runner } = open;
    const result = await this.generate(open, context, spec.decodeTokens + 1);
    // Anything less than the context's full blocks means the prefix cache lost them and the run
    // prefilled its context again: still a valid decode time, but not the setup described.
    if (result.cachedPromptTokens < context.length - runner.blockSize) {
      throw new Error(
        `only ${result.cachedPromptTokens} of the ${context.length} context tokens were cached`,
      );
    }
    // The first token comes from the prefill; each later one is a timed decode step.
    const { tokenIds, tokenTimesMs, finishReason } = result.completions[0]!;
    if (tokenIds.length !== spec.decodeTokens + 1) {
      throw new Error(
        `generation stopped after ${tokenIds.length} tokens (${finishReason}); ` +
          'the synthetic prompt led to an end-of-generation token',
      );
    }
    return ((tokenIds.length - 1) * 1000) / (tokenTimesMs.at(-1)! - tokenTimesMs[0]!);
  }

  private async generate(
    open: OpenModel,
    promptIds: number[],
    maxTokens: number,
    onPrefillDone?: () => void,
  ): Promise<GenerationResult> {
    const engine = open.engine;
    // The step that samples the first token ends the prefill.
    let prefilled = false;
    const unsubscribe = engine.onStep((step) => {
      if (prefilled || step.sampled.length === 0) return;
      prefilled = true;
      onPrefillDone?.();
    });
    try {
      return await engine.complete({ promptIds, maxTokens, sampling: { temperature: 0 } });
    } finally {
      unsubscribe();
    }
  }

  /** One decode from the cached prompt with every decode step's kernels timed (stderr). */
  private async profileDecode(open: OpenModel): Promise<void> {
    const ctx = this.ctx!;
    if (!ctx.features.timestampQuery) {
      progress('ours: --profile needs the timestamp-query feature, which this adapter lacks');
      return;
    }
    // The profile starts when the prompt's token comes back: no decode step may be submitted before.
    open.engine.overlapSteps = false;
    const result = await this.generate(open, open.decodePrompt, open.spec.decodeTokens + 1, () => ctx.startProfile());
    open.engine.overlapSteps = true;
    const profile = await ctx.stopProfile();
    const title = `ours, ${basename(open.spec.modelPath)}, decode after ${open.decodePrompt.length} tokens`;
    process.stderr.write(formatProfile(summarizeProfile(profile, result.completions[0]!.tokenIds.length - 1), title));
  }

  private opened(model: number): OpenModel {
    const open = this.models[model];
    if (open === undefined) throw new Error(`no opened model ${model}: open() it before measuring`);
    return open;
  }
}

/**
 * Puts `tokens` in the engine's prefix cache as if a request had prefilled them: allocated,
 * declared computed, released. A later request with this prompt reuses its full blocks.
 */
function registerContext(engine: Engine, tokens: readonly number[]): void {
  const id = 'long-context';
  engine.kv.allocate(id, tokens);
  engine.kv.markComputed(id, tokens.length);
  engine.kv.free(id);
}
