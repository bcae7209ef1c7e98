/**
 * Offline serving: a fixed set of requests, all queued at the start, on a synthetic model of
 * llama2.c's stories15M shape, run three ways by the same engine code on the same loaded runner:
 * continuous batching (everything submitted at once), static batching (a batch of 32 admitted
 * together, the next only when all of it has finished) and one request at a time. Measures output
 * tokens per second, time to first token, time per output token, sequences per step and the host
 * time each step spends scheduling.
 *
 * Run: pnpm bench serving-offline [options] (--help lists them). Table on stdout, progress on
 * stderr, JSON in bench/results/serving-offline.json. bench/README.md describes every field.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Engine, type EngineOptions, type GenerationResult, type StepRecord } from '@llm/engine';
import { SeededRandom } from '@llm/formats';
import { GpuContext } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { GpuModelRunner, kvPoolBlockBytes, type ModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { printTable, progress, type Cell } from './console-report.js';
import { ensureSyntheticModel } from './decode-models.js';
import { writeResult } from './result-writer.js';

type Tokenizer = Engine['tokenizer'];

// One at a time, the 200 requests take about 7.5 minutes on a 2-core machine with lavapipe (436 s
// extrapolated from the first 40 in the recorded run), on top of about 7.5 for two rounds of the
// batched modes: past the 15 minutes a run may take. So the sequential mode measures the first 40 and carries the
// rest over from their step costs, and the JSON says so.
const DEFAULT_SEQUENTIAL_REQUESTS = 40;

// The batched modes run in turn, twice each by default: this machine's speed drifts by a fifth
// over minutes, and one run of each would compare two different machines.
const DEFAULT_ROUNDS = 2;

const usage = `pnpm bench serving-offline [options]

  --requests N             requests in the workload (default 200)
  --sequential-requests N  run the sequential mode on the first N requests only and extrapolate its
                           wall time to all of them (default ${DEFAULT_SEQUENTIAL_REQUESTS}; the JSON says so when it
                           is fewer than --requests)
  --seed S                 seed of the workload's lengths and prompt tokens (default 1)
  --rounds N               runs of each batched mode, continuous and static in turn (default ${DEFAULT_ROUNDS})
  --help                   this text
`;

/** llama2.c's stories15M: dim 288, 6 layers of 6 heads, FFN 768, the Llama 2 vocabulary. */
const MODEL_SHAPE = {
  dim: 288,
  hiddenDim: 768,
  numLayers: 6,
  numHeads: 6,
  numKvHeads: 6,
  vocabSize: 32000,
  // stories15M has 256; the workload's longest request is 512 + 256 tokens (MAX_MODEL_LEN).
  contextLength: 1024,
} as const;
const MODEL_FILE = 'llama15m-f32-ctx1024.gguf';

// The workload: log-normal lengths (median, sigma of the log) clipped to a range.
const PROMPT = { median: 128, sigma: 0.8, min: 16, max: 512 } as const;
const OUTPUT = { median: 64, sigma: 0.8, min: 8, max: 256 } as const;
// Prompt tokens are drawn above <unk> <s> </s>, so no prompt holds a special token.
const FIRST_ORDINARY_ID = 3;

/** Sequences in one step in every mode, and the size of a static batch. */
const MAX_BATCH = 32;
// One step holds the decodes of a full batch plus prefill chunks up to vLLM's usual 512 tokens.
const MAX_STEP_TOKENS = 512;
const BLOCK_SIZE = 16;
const MAX_MODEL_LEN = PROMPT.max + OUTPUT.max;
// Room for MAX_BATCH sequences of MAX_MODEL_LEN tokens above the scheduler's 1 % watermark:
// nothing is ever preempted, in any mode.
const KV_BLOCKS = Math.ceil((MAX_BATCH * Math.ceil(MAX_MODEL_LEN / BLOCK_SIZE)) / 0.99) + 1;

// Prefix caching off: the modes run the same prompts one after the other, and a cache would let
// the later modes skip prefills the first one paid for.
const ENGINE_OPTIONS: EngineOptions = {
  maxNumSeqs: MAX_BATCH,
  maxNumBatchedTokens: MAX_STEP_TOKENS,
  enablePrefixCaching: false,
};

// Targets: continuous batching keeps twice the sequences per step of static batching and turns
// that into throughput; a CPU adapter turns less of it into throughput, its steps being bound by
// arithmetic (on lavapipe a decode step's time per token falls little past 8 sequences, see
// decodeStepCostBySequences). The host must not take a tenth of a full step.
const TARGET_BATCH_RATIO = 2;
const TARGET_THROUGHPUT_RATIO = { cpuAdapter: 1.3, gpu: 2 } as const;
const TARGET_SCHEDULING_FRACTION_AT_MAX_BATCH = 0.1;

const PROGRESS_INTERVAL_MS = 5000;

const MODES = ['continuous', 'static', 'sequential'] as const;
type Mode = (typeof MODES)[number];

interface Options {
  requests: number;
  sequentialRequests: number;
  seed: number;
  rounds: number;
}

function parseOptions(args: readonly string[]): Options | undefined {
  const { values } = parseArgs({
    args: [...args],
    options: {
      requests: { type: 'string', default: '200' },
      'sequential-requests': { type: 'string' },
      seed: { type: 'string', default: '1' },
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const count = (name: string, text: string, min: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return value;
  };
  const requests = count('requests', values.requests, 1);
  const sequentialRequests =
    values['sequential-requests'] === undefined
      ? Math.min(requests, DEFAULT_SEQUENTIAL_REQUESTS)
      : count('sequential-requests', values['sequential-requests'], 1);
  if (sequentialRequests > requests) throw new Error('--sequential-requests must be at most --requests');
  return { requests, sequentialRequests, seed: count('seed', values.seed, 0), rounds: count('rounds', values.rounds, 1) };
}

interface WorkloadRequest {
  promptIds: number[];
  /** maxTokens, generated in full (ignoreEos). */
  outputTokens: number;
}

function clippedLogNormal(
  random: SeededRandom,
  d: { median: number; sigma: number; min: number; max: number },
) {
  const value = Math.round(Math.exp(Math.log(d.median) + d.sigma * random.nextNormal()));
  return Math.min(d.max, Math.max(d.min, value));
}

function makeWorkload(requests: number, seed: number): WorkloadRequest[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: requests }, () => {
    const promptTokens = clippedLogNormal(random, PROMPT);
    const outputTokens = clippedLogNormal(random, OUTPUT);
    const promptIds = Array.from(
      { length: promptTokens },
      () => FIRST_ORDINARY_ID + (random.nextU32() % (MODEL_SHAPE.vocabSize - FIRST_ORDINARY_ID)),
    );
    return { promptIds, outputTokens };
  });
}

/** What the run keeps of a step record. */
interface StepSample {
  sequences: number;
  decodes: number;
  prefillTokens: number;
  /** Host time until the step was submitted: the scheduler, the engine's packing, the runner's recording. */
  scheduleMs: number;
  /** The scheduler and the engine's packing alone, before runner.step() is called. */
  engineMs: number;
  wallMs: number;
  /** CPU time of the JavaScript thread building the step (BuildCpuMeter; undefined where unknown). */
  hostCpuMs: number | undefined;
}

/**
 * CPU time the JavaScript (main) thread has used, in ms: the first field of its /proc schedstat
 * (Linux, nanoseconds; the main thread's id is the process id), undefined elsewhere. lavapipe's
 * threads are not counted, and time the thread waits preempted is not either.
 */
function mainThreadCpuMs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

/**
 * The JavaScript thread's CPU time from each scheduler.schedule() call until the runner.step()
 * call after it returns: what building a step costs the host (scheduling, the engine's packing,
 * the runner recording and submitting it), in order of the steps.
 */
class BuildCpuMeter {
  private startedMs: number | undefined;
  readonly perStep: (number | undefined)[] = [];

  constructor(engine: Engine, runner: ModelRunner) {
    const schedule = engine.scheduler.schedule.bind(engine.scheduler);
    engine.scheduler.schedule = () => {
      this.startedMs = mainThreadCpuMs();
      return schedule();
    };
    const step = runner.step;
    // Measured on the caller's side of the call: the runner is the real one, only timed.
    this.restore = () => (runner.step = step);
    runner.step = (...args) => {
      const result = step.apply(runner, args);
      const nowMs = mainThreadCpuMs();
      this.perStep.push(nowMs === undefined || this.startedMs === undefined ? undefined : nowMs - this.startedMs);
      return result;
    };
  }

  readonly restore: () => void;
}

interface ModeRun {
  startMs: number;
  wallMs: number;
  results: GenerationResult[];
  steps: StepSample[];
}

/**
 * Runs `workload` on a fresh engine over `runner`: all submitted at once (continuous), MAX_BATCH
 * at a time with each batch awaited whole (static), or one at a time (sequential).
 */
async function runMode(
  mode: Mode,
  runner: ModelRunner,
  tokenizer: Tokenizer,
  workload: readonly WorkloadRequest[],
): Promise<ModeRun> {
  const engine = new Engine(runner, tokenizer, ENGINE_OPTIONS);
  const steps: StepSample[] = [];
  let finished = 0;
  let tokens = 0;
  let lastReportMs = performance.now();
  const startMs = performance.now();
  const meter = new BuildCpuMeter(engine, runner);
  engine.onStep((record: StepRecord) => {
    steps.push({
      hostCpuMs: meter.perStep[record.step],
      sequences: record.prefill.length + record.decode.length,
      decodes: record.decode.length,
      prefillTokens: record.numPrefillTokens,
      scheduleMs: record.scheduleMs + record.submitMs,
      engineMs: record.scheduleMs,
      wallMs: record.wallMs,
    });
    tokens += record.sampled.length;
    const now = performance.now();
    if (now - lastReportMs >= PROGRESS_INTERVAL_MS) {
      lastReportMs = now;
      progress(
        `  ${mode}: ${finished}/${workload.length} requests done, ${tokens} tokens, ${steps.length} steps, ` +
          `${((now - startMs) / 1000).toFixed(0)} s`,
      );
    }
  });
  const submit = async (r: WorkloadRequest): Promise<GenerationResult> => {
    const result = await engine.complete({
      promptIds: r.promptIds,
      maxTokens: r.outputTokens,
      ignoreEos: true,
      sampling: { temperature: 0 },
    });
    finished++;
    return result;
  };
  const results: GenerationResult[] = [];
  if (mode === 'continuous') {
    results.push(...(await Promise.all(workload.map(submit))));
  } else if (mode === 'static') {
    for (let i = 0; i < workload.length; i += MAX_BATCH) {
      results.push(...(await Promise.all(workload.slice(i, i + MAX_BATCH).map(submit))));
    }
  } else {
    for (const r of workload) results.push(await submit(r));
  }
  const wallMs = performance.now() - startMs;
  await engine.close();
  meter.restore();
  return { startMs, wallMs, results, steps };
}

/** The q-quantile (0..1) by linear interpolation between the closest ranks (numpy's default). */
function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const position = q * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * A mode's figures over its runs, pooled: throughput is all their tokens over all their wall time,
 * percentiles and means are over every request and step of every run.
 */
function summarize(runs: readonly ModeRun[]) {
  const ttft: number[] = [];
  const ttftFromStart: number[] = [];
  const tpot: number[] = [];
  for (const run of runs) {
    for (const result of run.results) {
      const times = result.completions[0]!.tokenTimesMs;
      const first = times[0]!;
      ttft.push(first - result.metrics.arrivalMs);
      ttftFromStart.push(first - run.startMs);
      if (times.length > 1) tpot.push((times.at(-1)! - first) / (times.length - 1));
    }
  }
  const run: ModeRun = {
    startMs: runs[0]!.startMs,
    wallMs: sum(runs.map((r) => r.wallMs)),
    results: runs.flatMap((r) => r.results),
    steps: runs.flatMap((r) => r.steps),
  };
  const generatedTokens = sum(run.results.map((r) => r.usage.completionTokens));
  const decodeSteps = run.steps.filter((s) => s.decodes > 0);
  const atMaxBatch = run.steps.filter((s) => s.sequences === MAX_BATCH);
  const fraction = (part: (s: StepSample) => number) => (s: StepSample) => part(s) / s.wallMs;
  return {
    runs: runs.length,
    requests: run.results.length / runs.length,
    wallSeconds: run.wallMs / 1000 / runs.length,
    generatedTokens: generatedTokens / runs.length,
    promptTokens: sum(run.results.map((r) => r.usage.promptTokens)) / runs.length,
    outputTokensPerSecond: generatedTokens / (run.wallMs / 1000),
    ttftP50Ms: quantile(ttft, 0.5),
    ttftP99Ms: quantile(ttft, 0.99),
    ttftFromStartP50Ms: quantile(ttftFromStart, 0.5),
    ttftFromStartP99Ms: quantile(ttftFromStart, 0.99),
    tpotP50Ms: quantile(tpot, 0.5),
    tpotP99Ms: quantile(tpot, 0.99),
    steps: run.steps.length / runs.length,
    decodeSteps: decodeSteps.length / runs.length,
    meanBatchSize: mean(decodeSteps.map((s) => s.sequences)),
    meanDecodeSequences: mean(decodeSteps.map((s) => s.decodes)),
    meanStepMs: mean(run.steps.map((s) => s.wallMs)),
    stepsAtBatch32: atMaxBatch.length / runs.length,
    meanStepMsAtBatch32: mean(atMaxBatch.map((s) => s.wallMs)),
    schedulingFractionP50: quantile(run.steps.map(fraction((s) => s.scheduleMs)), 0.5),
    schedulingFractionAtBatch32: mean(atMaxBatch.map(fraction((s) => s.scheduleMs))),
    engineSchedulingFractionP50: quantile(run.steps.map(fraction((s) => s.engineMs)), 0.5),
    engineSchedulingFractionAtBatch32: mean(atMaxBatch.map(fraction((s) => s.engineMs))),
    hostCpuFractionAtBatch32: atMaxBatch.some((s) => s.hostCpuMs === undefined)
      ? null
      : ratio(sum(atMaxBatch.map((s) => s.hostCpuMs!)), sum(atMaxBatch.map((s) => s.wallMs))),
    decodeStepCostBySequences: decodeStepCost(run.steps, runs.length),
  };
}

// Batch sizes grouped for decodeStepCostBySequences: the matrix-product kernels change at 1, 2 and 8 rows.
const BATCH_BUCKETS = [
  [1, 1],
  [2, 2],
  [3, 7],
  [8, 15],
  [16, 31],
  [32, 32],
] as const;

/**
 * Wall time of the steps that only decode, by the number of sequences they decode; `steps` pools
 * `runs` runs, and each bucket's count is per run as the summary's other counts are.
 */
function decodeStepCost(steps: readonly StepSample[], runs: number) {
  return BATCH_BUCKETS.flatMap(([min, max]) => {
    const bucket = steps.filter((s) => s.prefillTokens === 0 && s.decodes >= min && s.decodes <= max);
    if (bucket.length === 0) return [];
    const tokens = sum(bucket.map((s) => s.decodes));
    const ms = sum(bucket.map((s) => s.wallMs));
    return [
      {
        sequences: min === max ? `${min}` : `${min}-${max}`,
        steps: bucket.length / runs,
        meanStepMs: ms / bucket.length,
        msPerToken: ms / tokens,
      },
    ];
  });
}

type ModeSummary = ReturnType<typeof summarize>;

/**
 * The sequential mode measured on the first requests only, carried to the whole workload with
 * the measured step costs: a prompt costs its tokens times the prefill milliseconds per token
 * (each prompt is one prefill step, which also samples the first token), every further token one
 * decode step of the measured mean, and each request the measured time between its steps.
 */
function extrapolateSequential(run: ModeRun, measured: ModeSummary, workload: readonly WorkloadRequest[]) {
  const prefillSteps = run.steps.filter((s) => s.prefillTokens > 0);
  const decodeSteps = run.steps.filter((s) => s.prefillTokens === 0);
  const prefillMsPerPromptToken =
    sum(prefillSteps.map((s) => s.wallMs)) / sum(prefillSteps.map((s) => s.prefillTokens));
  const decodeStepMs = mean(decodeSteps.map((s) => s.wallMs))!;
  const betweenStepsMsPerRequest = (run.wallMs - sum(run.steps.map((s) => s.wallMs))) / run.results.length;
  const ttftFromStart = run.results.map((r) => r.completions[0]!.tokenTimesMs[0]! - run.startMs);
  let elapsedMs = run.wallMs;
  for (const r of workload.slice(run.results.length)) {
    const prefillMs = prefillMsPerPromptToken * r.promptIds.length;
    ttftFromStart.push(elapsedMs + prefillMs);
    elapsedMs += prefillMs + decodeStepMs * (r.outputTokens - 1) + betweenStepsMsPerRequest;
  }
  const generatedTokens = sum(workload.map((r) => r.outputTokens));
  return {
    ...measured,
    requests: workload.length,
    wallSeconds: elapsedMs / 1000,
    generatedTokens,
    promptTokens: sum(workload.map((r) => r.promptIds.length)),
    outputTokensPerSecond: generatedTokens / (elapsedMs / 1000),
    ttftFromStartP50Ms: quantile(ttftFromStart, 0.5),
    ttftFromStartP99Ms: quantile(ttftFromStart, 0.99),
    // One prefill step per prompt (it samples the first token), one decode step per further token.
    steps: generatedTokens,
    extrapolation: {
      method:
        `measured on the first ${run.results.length} of ${workload.length} requests; wallSeconds, ` +
        'generatedTokens, promptTokens, outputTokensPerSecond, steps and ttftFromStart* cover the whole ' +
        'workload: the measured wall time plus, per remaining request, prefillMsPerPromptToken x its ' +
        'prompt + decodeStepMs x (its output - 1) + betweenStepsMsPerRequest (ttftFromStart of a ' +
        'remaining request: the time before it plus its prefill). ttft*, tpot*, the step means and the ' +
        'scheduling fractions are those of the measured requests (alone, a request does not depend on ' +
        'the others).',
      measuredRequests: run.results.length,
      measuredWallSeconds: measured.wallSeconds,
      measuredGeneratedTokens: measured.generatedTokens,
      measuredOutputTokensPerSecond: measured.outputTokensPerSecond,
      measuredSteps: measured.steps,
      prefillMsPerPromptToken,
      decodeStepMs,
      betweenStepsMsPerRequest,
    },
  };
}

const method =
  'All requests queued at the start; three modes, each on a fresh Engine (same options) over the same ' +
  'loaded GpuModelRunner, after an untimed warm-up that compiles the kernels: continuous (every request ' +
  'submitted at once; the engine runs up to maxBatch sequences per step), static (maxBatch requests ' +
  'submitted together, the next maxBatch only when all of them have finished), sequential (one request ' +
  'at a time). The batched modes run workload.rounds times each, continuous and static in turn, and each ' +
  "mode's figures pool its runs: outputTokensPerSecond is all their generated tokens / all their wall time, " +
  'percentiles and means are over every request and step of every run, and wallSeconds, requests, steps ' +
  'and token counts are per run; continuousVsStatic.outputTokensPerSecondByRound has each pair alone. ' +
  'Greedy sampling, ignoreEos, maxTokens = the output length. outputTokensPerSecond: ' +
  'generated tokens / wall time of the mode. TTFT: first token time - the time the request was handed ' +
  'to the engine (in static mode, when its batch was submitted); ttftFromStart*: first token time - the ' +
  "start of its run. TPOT per request: (last token time - first token time) / (tokens - 1). Percentiles are " +
  'over requests, linear between the closest ranks. A token time is when the step that sampled it came ' +
  'back to the host. meanBatchSize: the mean, over the steps that decode at least one sequence, of the ' +
  'sequences in the step (decoding plus prefilling); meanDecodeSequences: of those decoding alone. ' +
  "schedulingFraction*: (StepRecord.scheduleMs + submitMs) / StepRecord.wallMs, the host time from the step's start " +
  "until runner.step() returns (scheduling, the engine's packing, the runner recording and submitting " +
  'the step) over the step; engineSchedulingFraction*: StepRecord.scheduleMs, the part before runner.step() is called (the ' +
  "scheduler and the engine's packing), over the step. P50 over all steps; AtBatch32 the mean over " +
  'the steps of exactly 32 sequences. A step built while the previous one runs on the device (StepRecord.overlapped) ' +
  "spends that host time beside the device's work, and the host thread, yielding to lavapipe's threads, is " +
  'preempted meanwhile: its wall time there overstates its work. hostCpuFractionAtBatch32: the CPU time the ' +
  'JavaScript thread spent building the steps of exactly 32 sequences (from scheduler.schedule() until ' +
  "runner.step() returns: scheduling, the engine's packing, the runner recording and submitting; Linux " +
  '/proc schedstat of the thread, in ns) / their wall time; the scheduling target reads it where it is available. ' +
  'decodeStepCostBySequences: the steps that only decode, grouped by ' +
  'the sequences they decode, with their count per run and mean wall time per step and per token.';

export async function main(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  if (options === undefined) {
    process.stdout.write(usage);
    return;
  }
  const started = performance.now();
  const path = await ensureSyntheticModel(MODEL_FILE, { ...MODEL_SHAPE, dtype: 'f32' });
  const workload = makeWorkload(options.requests, options.seed);
  const ctx = await GpuContext.create();
  // As the CLI does: on lavapipe the JavaScript thread only waits on the adapter's threads.
  const hostThreadYielded = yieldHostThread(ctx);
  const model = await openModel(path);
  const runner = await GpuModelRunner.load(ctx, model.source, {
    maxSeqs: MAX_BATCH,
    maxStepTokens: MAX_STEP_TOKENS,
    maxModelLen: MAX_MODEL_LEN,
    blockSize: BLOCK_SIZE,
    kvBudgetBytes: KV_BLOCKS * kvPoolBlockBytes(model.source.config, BLOCK_SIZE, 'f32'),
  });
  const runs: Record<Mode, ModeRun[]> = { continuous: [], static: [], sequential: [] };
  let warmUpSeconds: number;
  try {
    progress(`warm-up on ${ctx.adapterName}: the kernels of every batch size compile`);
    const warmUpStart = performance.now();
    await runMode('continuous', runner, model.tokenizer, warmUpWorkload(options.seed));
    warmUpSeconds = (performance.now() - warmUpStart) / 1000;
    const order = [
      ...Array.from({ length: options.rounds }, () => ['continuous', 'static'] as const).flat(),
      'sequential' as const,
    ];
    for (const mode of order) {
      const requests = mode === 'sequential' ? workload.slice(0, options.sequentialRequests) : workload;
      progress(`${mode}: ${requests.length} requests${mode === 'sequential' ? '' : `, round ${runs[mode].length + 1} of ${options.rounds}`}`);
      const run = await runMode(mode, runner, model.tokenizer, requests);
      runs[mode].push(run);
      const tokens = sum(run.results.map((r) => r.usage.completionTokens));
      progress(
        `${mode}: ${((tokens * 1000) / run.wallMs).toFixed(1)} tokens/s, ${(run.wallMs / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    runner.dispose();
    await model.source.close();
  }
  const continuous = summarize(runs.continuous);
  const staticBatch = summarize(runs.static);
  const measuredSequential = summarize(runs.sequential);
  const sequential =
    options.sequentialRequests < workload.length
      ? extrapolateSequential(runs.sequential[0]!, measuredSequential, workload)
      : { ...measuredSequential, extrapolation: null };
  const batchRatio = ratio(continuous.meanBatchSize, staticBatch.meanBatchSize);
  const throughputRatio = ratio(continuous.outputTokensPerSecond, staticBatch.outputTokensPerSecond);
  const throughputTarget = ctx.isCpuAdapter
    ? TARGET_THROUGHPUT_RATIO.cpuAdapter
    : TARGET_THROUGHPUT_RATIO.gpu;
  // The host's CPU time where the thread's clock is readable: a step built while the previous one
  // runs spends its host time beside the device's, so its wall time there says little.
  const scheduling = continuous.hostCpuFractionAtBatch32 ?? continuous.schedulingFractionAtBatch32;
  const rows = { continuous, static: staticBatch, sequential };
  printTable(
    MODES.map((mode): Record<string, Cell> => {
      const s = rows[mode];
      return {
        mode,
        requests: s.requests,
        measured:
          mode === 'sequential' ? (sequential.extrapolation?.measuredRequests ?? s.requests) : s.requests,
        'wall s': s.wallSeconds,
        'out tok/s': s.outputTokensPerSecond,
        'TTFT p50 ms': s.ttftP50Ms,
        'TTFT p99 ms': s.ttftP99Ms,
        'from start p50 ms': s.ttftFromStartP50Ms,
        'TPOT p50 ms': s.tpotP50Ms,
        'TPOT p99 ms': s.tpotP99Ms,
        'mean batch': s.meanBatchSize,
        steps: s.steps,
        'sched p50': s.schedulingFractionP50,
        'sched @32': s.schedulingFractionAtBatch32,
        'engine sched @32': s.engineSchedulingFractionAtBatch32,
        'host CPU @32': s.hostCpuFractionAtBatch32,
      };
    }),
  );
  const resultPath = await writeResult('serving-offline', {
    method,
    adapter: ctx.adapterName,
    isCpuAdapter: ctx.isCpuAdapter,
    hostThreadYielded,
    model: {
      file: MODEL_FILE,
      shape: MODEL_SHAPE,
      dtype: 'f32',
      weights: 'random, seed 1 (bench/decode-models.ts)',
    },
    workload: {
      requests: options.requests,
      seed: options.seed,
      rounds: options.rounds,
      promptTokens: { distribution: 'log-normal, clipped', ...PROMPT },
      outputTokens: { distribution: 'log-normal, clipped', ...OUTPUT },
      promptTokenIds: `uniform in ${FIRST_ORDINARY_ID}..${MODEL_SHAPE.vocabSize - 1}`,
      sampling: 'greedy',
      ignoreEos: true,
      arrivals: 'all queued at the start',
      generatedTokens: sum(workload.map((r) => r.outputTokens)),
      promptTokensTotal: sum(workload.map((r) => r.promptIds.length)),
    },
    engine: {
      maxBatch: MAX_BATCH,
      maxStepTokens: MAX_STEP_TOKENS,
      maxModelLen: MAX_MODEL_LEN,
      blockSize: BLOCK_SIZE,
      kvBlocks: runner.numBlocks,
      kvPoolBytes: runner.kvPoolBytes,
      enablePrefixCaching: false,
    },
    warmUpSeconds,
    continuous,
    static: staticBatch,
    sequential,
    continuousVsStatic: {
      meanBatchSize: batchRatio,
      outputTokensPerSecond: throughputRatio,
      // Each round's own pair, continuous and static run one after the other.
      outputTokensPerSecondByRound: runs.continuous.map((c, i) => {
        const tokensPerSecond = (r: ModeRun) => sum(r.results.map((x) => x.usage.completionTokens)) / (r.wallMs / 1000);
        const st = runs.static[i]!;
        return { continuous: tokensPerSecond(c), static: tokensPerSecond(st), ratio: tokensPerSecond(c) / tokensPerSecond(st) };
      }),
    },
    continuousVsSequential: {
      outputTokensPerSecond: ratio(continuous.outputTokensPerSecond, sequential.outputTokensPerSecond),
    },
    targets: {
      meanBatchSizeVsStatic: {
        atLeast: TARGET_BATCH_RATIO,
        value: batchRatio,
        pass: batchRatio !== null && batchRatio >= TARGET_BATCH_RATIO,
      },
      outputTokensPerSecondVsStatic: {
        atLeast: throughputTarget,
        for: ctx.isCpuAdapter ? 'a CPU adapter (on a GPU: 2)' : 'a GPU (on a CPU adapter: 1.3)',
        value: throughputRatio,
        pass: throughputRatio !== null && throughputRatio >= throughputTarget,
      },
      schedulingFractionAtBatch32: {
        measure:
          continuous.hostCpuFractionAtBatch32 === null
            ? 'schedulingFractionAtBatch32 (host wall time)'
            : 'hostCpuFractionAtBatch32 (CPU time of the JavaScript thread)',
        below: TARGET_SCHEDULING_FRACTION_AT_MAX_BATCH,
        value: scheduling,
        pass: scheduling !== null && scheduling < TARGET_SCHEDULING_FRACTION_AT_MAX_BATCH,
      },
    },
    wallSeconds: (performance.now() - started) / 1000,
  });
  progress(`wrote ${resultPath}`);
  ctx.destroy();
}

/**
 * A full batch of short prompts with outputs of 1 to 32 tokens: the decode batch shrinks from 32
 * to 1 one sequence at a time, so every batch size the modes reach compiles its kernels, untimed.
 */
function warmUpWorkload(seed: number): WorkloadRequest[] {
  const random = new SeededRandom(seed ^ 0x5eed);
  return Array.from({ length: MAX_BATCH }, (_, i) => ({
    promptIds: Array.from(
      { length: PROMPT.min + i },
      () => FIRST_ORDINARY_ID + (random.nextU32() % (MODEL_SHAPE.vocabSize - FIRST_ORDINARY_ID)),
    ),
    outputTokens: i + 1,
  }));
}
