/**
 * Batch-1 decode, prefill and long-context decode speed on synthetic Llama-shaped models (the 110M
 * shape in F32 and F16, the 1.1B shape in F16): this engine on WebGPU against llama.cpp on its
 * Vulkan backend (same adapter) and on its CPU backend, on the same GGUF files, next to the
 * adapter's and the machine's measured bandwidth. Each engine runs in a child process of its own;
 * runs interleave between them (round 1: ours, llama.cpp Vulkan, llama.cpp CPU; round 2: ...).
 *
 * Run: pnpm bench decode [options] (--help lists them). Table on stdout, progress on stderr, JSON
 * in bench/results/decode.json. bench/README.md describes every field.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { printTable, progress, type Cell } from './console-report.js';
import {
  ENGINE_NAMES,
  type CaseSpec,
  type EngineName,
  type EngineStart,
  type MeasuredFigure,
  type OpenedCase,
} from './decode-engine.js';
import { DECODE_MODELS, ensureModelFile, weightBytesPerToken, type DecodeModel } from './decode-models.js';
import { EngineError, EngineProcess } from './engine-process.js';
import { writeResult } from './result-writer.js';
import { machineMethod, measureMachine } from './roofline.js';
import { summarizeRuns, type Spread } from './run-spread.js';

const usage = `pnpm bench decode [options]

  --runs N                   runs of every figure, interleaved between the engines (default 3)
  --tokens N                 timed decode steps per run (default 16; the 1.1B model times half)
  --our-tokens N             ours' timed decode steps per run (default 64; the 1.1B model times
                             a quarter): more steps of the faster engine average out the shared
                             machine's bursts at little cost
  --prefill-tokens N         prompt of the 110M models' prefill, ours and llama.cpp CPU (default 1024)
  --vulkan-prefill-tokens N  prompt of llama.cpp Vulkan's prefill on the 110M models (default 128;
                             ours is measured at this length too, for the ratio)
  --prefill-tokens-1b N      prompt of the 1.1B model's prefill, ours and llama.cpp CPU (default 1024)
  --vulkan-prefill-tokens-1b N
                             prompt of llama.cpp Vulkan's prefill on the 1.1B model (default 32: it
                             prefills about 2.6 tokens/s there; ours is measured at this length too)
  --decode-prompt-tokens N   tokens cached before decode's timed steps (default 128)
  --peers LIST               llama.cpp backends to compare with: cpu,vulkan (default), cpu, vulkan, none
  --llama-threads N          llama.cpp's threads (default: the cores, ${availableParallelism()})
  --skip-1b                  leave out the 1.1B model
  --compute-fill             ours prefills its 4096-token context instead of registering it (minutes)
  --profile                  ours also runs one profiled decode per model (untimed) and prints its
                             GPU time per kernel kind per token on stderr
  --help                     this text
`;

export interface Options {
  runs: number;
  tokens: number;
  ourTokens: number;
  prefillTokens: number;
  vulkanPrefillTokens: number;
  prefillTokens1b: number;
  vulkanPrefillTokens1b: number;
  decodePromptTokens: number;
  peers: EngineName[];
  llamaThreads: number;
  skip1b: boolean;
  computeFill: boolean;
  profile: boolean;
}

export const PEERS: Record<string, EngineName> = { cpu: 'llamaCppCpu', vulkan: 'llamaCppVulkan' };
// The CPU backend opens first: it fills the contexts the Vulkan backend then loads.
const OPEN_ORDER: readonly EngineName[] = ['llamaCppCpu', 'llamaCppVulkan', 'ours'];
export const ROUND_ORDER: readonly EngineName[] = ['ours', 'llamaCppVulkan', 'llamaCppCpu'];

/** An integer option of parseArgs' string values, at least `min`. */
export function integerOption(values: Readonly<Record<string, unknown>>, name: string, min: number): number {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return value;
}

/** `--peers cpu,vulkan|cpu|vulkan|none` as the llama.cpp engines to run. */
export function peersOption(text: string): EngineName[] {
  const peers = text === 'none' ? [] : text.split(',').map((peer) => PEERS[peer.trim()]);
  if (peers.some((peer) => peer === undefined)) throw new Error(`--peers takes cpu, vulkan, both or none`);
  return peers as EngineName[];
}

function parseOptions(args: readonly string[]): Options | undefined {
  const { values } = parseArgs({
    args: [...args],
    options: {
      runs: { type: 'string', default: '3' },
      tokens: { type: 'string', default: '16' },
      'our-tokens': { type: 'string', default: '64' },
      'prefill-tokens': { type: 'string', default: '1024' },
      'vulkan-prefill-tokens': { type: 'string', default: '128' },
      'prefill-tokens-1b': { type: 'string', default: '1024' },
      'vulkan-prefill-tokens-1b': { type: 'string', default: '32' },
      'decode-prompt-tokens': { type: 'string', default: '128' },
      peers: { type: 'string', default: 'cpu,vulkan' },
      'llama-threads': { type: 'string', default: String(availableParallelism()) },
      'skip-1b': { type: 'boolean', default: false },
      'compute-fill': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const count = (name: keyof typeof values, min: number) => integerOption(values, name, min);
  const peers = peersOption(values.peers);
  return {
    runs: count('runs', 1),
    tokens: count('tokens', 2),
    ourTokens: count('our-tokens', 2),
    prefillTokens: count('prefill-tokens', 1),
    vulkanPrefillTokens: count('vulkan-prefill-tokens', 1),
    prefillTokens1b: count('prefill-tokens-1b', 1),
    vulkanPrefillTokens1b: count('vulkan-prefill-tokens-1b', 1),
    decodePromptTokens: count('decode-prompt-tokens', 1),
    peers: peers as EngineName[],
    llamaThreads: count('llama-threads', 1),
    skip1b: values['skip-1b'],
    computeFill: values['compute-fill'],
    profile: values.profile,
  };
}

/** What one model's run measures, engine by engine. */
export interface CasePlan {
  model: DecodeModel;
  decodePromptTokens: number;
  /** The peers' timed decode steps per run. */
  decodeTokens: number;
  /** Ours' timed decode steps per run. */
  oursDecodeTokens: number;
  /** Tokens cached before decodeAt4096's first timed step; null: not measured. */
  longContextTokens: number | null;
  /** Each engine's prefill prompt; ours also prefills at every other engine's length. */
  prefillPromptTokens: Record<EngineName, number>;
}

function planCase(model: DecodeModel, options: Options): CasePlan {
  const large = model.preset === 'llama1b';
  // The 1.1B model decodes at about a tenth of the 110M speed: half the steps keep the run short.
  const decodeTokens = large ? Math.max(1, options.tokens >> 1) : options.tokens;
  const oursDecodeTokens = large ? Math.max(1, options.ourTokens >> 2) : options.ourTokens;
  const prefill = large ? options.prefillTokens1b : options.prefillTokens;
  return {
    model,
    decodePromptTokens: options.decodePromptTokens,
    decodeTokens,
    oursDecodeTokens,
    // The longer timed run ends where the model's context does: its last step writes the
    // next-to-last position (the token it samples would take the last).
    longContextTokens: model.longContext
      ? model.shape.contextLength - Math.max(decodeTokens, oursDecodeTokens) - 1
      : null,
    prefillPromptTokens: {
      ours: prefill,
      llamaCppCpu: prefill,
      llamaCppVulkan: large ? options.vulkanPrefillTokens1b : options.vulkanPrefillTokens,
    },
  };
}

/** An engine of the run: its process, or why it cannot take part. */
export interface Engine {
  name: EngineName;
  process: EngineProcess | undefined;
  started: EngineStart | undefined;
  unavailable: string | undefined;
}

export async function startEngine(name: EngineName, options: Pick<Options, 'llamaThreads'>): Promise<Engine> {
  const engine: Engine = { name, process: undefined, started: undefined, unavailable: undefined };
  try {
    engine.process = await EngineProcess.spawn(name, options.llamaThreads);
    engine.started = await engine.process.start();
  } catch (error) {
    if (name === 'ours') throw error;
    engine.process?.stop();
    engine.process = undefined;
    engine.unavailable = reason(error);
  }
  return engine;
}

export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One engine's results for one model: samples by figure, or why it has none. */
export interface CaseRun {
  opened: OpenedCase | undefined;
  unavailable: string | undefined;
  samples: Map<string, number[]>;
}

function figureKey(measurement: MeasuredFigure): string {
  return measurement.figure === 'prefill' ? `prefill:${measurement.promptTokens}` : measurement.figure;
}

/** The prompt lengths an engine prefills: ours also each peer's, so every prefill ratio compares equal prompts. */
function prefillLengths(name: EngineName, plan: CasePlan, engines: readonly Engine[]): number[] {
  const lengths = new Set([plan.prefillPromptTokens[name]]);
  if (name === 'ours') {
    for (const engine of engines)
      if (engine.process !== undefined) lengths.add(plan.prefillPromptTokens[engine.name]);
  }
  return [...lengths];
}

/** One engine's measurements of one round. */
function measurementsOf(
  name: EngineName,
  plan: CasePlan,
  engines: readonly Engine[],
  round: number,
): MeasuredFigure[] {
  const list: MeasuredFigure[] = [{ figure: 'decode' }];
  if (plan.longContextTokens !== null) list.push({ figure: 'decodeAtLongContext' });
  for (const promptTokens of prefillLengths(name, plan, engines)) {
    list.push({ figure: 'prefill', promptTokens, run: round });
  }
  return list;
}

/** One model file and how to measure it, for runCases. */
export interface BenchCase {
  plan: CasePlan;
  path: string;
  /** The engines that measure this case (a subset of runCases' engines). */
  engines: readonly Engine[];
  /** Ours only: the runner's `activations`. */
  activations?: 'f32' | 'int8';
}

/**
 * Opens every case on each of its engines (an engine holds all of them at once), then measures
 * them in interleaved rounds: round r takes every case in turn, and within a case every engine
 * in ROUND_ORDER, so a machine whose speed drifts over the run slows every case and engine alike.
 * Returns, per case, each engine's samples by figure.
 */
export async function runCases(
  cases: readonly BenchCase[],
  engines: readonly Engine[],
  options: Pick<Options, 'runs' | 'computeFill' | 'profile'> & {
    /** Ours failing on a case leaves the other cases' figures standing (else it ends the run). */
    oursFailureKeepsGoing?: boolean;
  },
): Promise<Map<EngineName, CaseRun>[]> {
  const cacheDirs = cases.map(() => mkdtempSync(join(tmpdir(), 'bench-decode-')));
  const spec = (c: BenchCase, cacheDir: string, name: EngineName): CaseSpec => ({
    modelPath: c.path,
    decodePromptTokens: c.plan.decodePromptTokens,
    decodeTokens: name === 'ours' ? c.plan.oursDecodeTokens : c.plan.decodeTokens,
    longContextTokens: c.plan.longContextTokens,
    prefillPromptTokens: prefillLengths(name, c.plan, c.engines),
    cacheDir,
    computeLongContext: options.computeFill,
    profile: options.profile,
    ...(c.activations ? { activations: c.activations } : {}),
  });
  const runs = cases.map(() => new Map<EngineName, CaseRun>());
  // Each engine's index of each case among the models it opened (open order).
  const modelIndex = cases.map(() => new Map<EngineName, number>());
  const openedOn = new Map<EngineName, number>();
  const fail = (engine: Engine, run: CaseRun, error: unknown): void => {
    if (engine.name === 'ours' && options.oursFailureKeepsGoing !== true) throw error;
    run.unavailable = reason(error);
    progress(`  ${engine.name} unavailable for this model: ${run.unavailable}`);
    // A process that died stays dead: the later models skip it.
    if (error instanceof EngineError && error.errorName === 'ProcessExit') {
      engine.unavailable = run.unavailable;
      engine.process = undefined;
    }
  };
  try {
    for (const [i, c] of cases.entries()) {
      for (const name of OPEN_ORDER) {
        const engine = c.engines.find((e) => e.name === name);
        if (engine === undefined) continue;
        const run: CaseRun = { opened: undefined, unavailable: engine.unavailable, samples: new Map() };
        runs[i]!.set(name, run);
        if (engine.process === undefined) continue;
        progress(`  ${name}: opening ${basename(c.path)}${c.activations ? ` (${c.activations} activations)` : ''}`);
        try {
          run.opened = await engine.process.open(spec(c, cacheDirs[i]!, name));
          modelIndex[i]!.set(name, openedOn.get(name) ?? 0);
          openedOn.set(name, (openedOn.get(name) ?? 0) + 1);
        } catch (error) {
          fail(engine, run, error);
        }
      }
    }
    for (let round = 1; round <= options.runs; round += 1) {
      for (const [i, c] of cases.entries()) {
        for (const name of ROUND_ORDER) {
          const engine = c.engines.find((e) => e.name === name);
          const run = runs[i]!.get(name);
          const model = modelIndex[i]!.get(name);
          if (engine?.process === undefined || run === undefined || run.unavailable !== undefined || model === undefined) continue;
          const done: string[] = [];
          for (const measurement of measurementsOf(name, c.plan, c.engines, round)) {
            try {
              const tokensPerSecond = await engine.process.measure({ ...measurement, model });
              const key = figureKey(measurement);
              run.samples.set(key, [...(run.samples.get(key) ?? []), tokensPerSecond]);
              done.push(`${key} ${tokensPerSecond.toFixed(2)}`);
            } catch (error) {
              fail(engine, run, error);
              break;
            }
          }
          progress(`  round ${round}/${options.runs} ${basename(c.path)}${c.activations === 'int8' ? ' (int8)' : ''} ${name}: ${done.join(', ')} tokens/s`);
        }
      }
    }
    for (const engine of engines) {
      if (engine.process === undefined || !openedOn.has(engine.name)) continue;
      try {
        await engine.process.close();
      } catch (error) {
        // Its figures stand; a peer that cannot free the models sits out the later ones.
        if (engine.name === 'ours') throw error;
        engine.unavailable = `closing the previous models failed: ${reason(error)}`;
        engine.process.stop();
        engine.process = undefined;
      }
    }
  } finally {
    for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
  }
  return runs;
}

export interface Figure {
  median: number;
  spread: Spread;
}

export function figure(run: CaseRun, key: string): Figure | null {
  const samples = run.samples.get(key);
  return samples === undefined ? null : summarizeRuns(samples);
}

function ratio(ours: Figure | null, peer: Figure | null): number | null {
  return ours !== null && peer !== null ? ours.median / peer.median : null;
}

interface EngineFigures {
  decode: Figure | null;
  prefill: Figure | null;
  decodeAtLongContext: Figure | null;
}

function figuresOf(run: CaseRun, promptTokens: number): EngineFigures {
  return {
    decode: figure(run, 'decode'),
    prefill: figure(run, `prefill:${promptTokens}`),
    decodeAtLongContext: figure(run, 'decodeAtLongContext'),
  };
}

function engineEntry(name: EngineName, run: CaseRun, plan: CasePlan, adapterReadGBps: number) {
  if (run.unavailable !== undefined || run.opened === undefined) {
    return { unavailable: run.unavailable ?? 'not measured' };
  }
  const promptTokens = plan.prefillPromptTokens[name];
  const f = figuresOf(run, promptTokens);
  const bytesPerSecond = f.decode === null ? null : weightBytesPerToken(plan.model) * f.decode.median;
  const spread: Record<string, Spread> = {};
  for (const [key, value] of Object.entries(f)) if (value !== null) spread[spreadName(key)] = value.spread;
  const extraPrefill: Record<string, unknown> = {};
  if (name === 'ours') {
    // Ours' prefill at the peers' other prompt lengths: what their prefill ratios compare with.
    for (const [key] of run.samples) {
      const length = Number(key.split(':')[1]);
      if (!key.startsWith('prefill:') || length === promptTokens) continue;
      const other = figure(run, key)!;
      extraPrefill[`prefillTokensPerSecondAt${length}PromptTokens`] = other.median;
      spread[`prefillTokensPerSecondAt${length}PromptTokens`] = other.spread;
    }
  }
  return {
    adapter: run.opened.adapter,
    decodeTokensPerSecond: f.decode?.median ?? null,
    prefillTokensPerSecond: f.prefill?.median ?? null,
    decodeTokensPerSecondAt4096: f.decodeAtLongContext?.median ?? null,
    fractionOfAdapterReadBandwidth: bytesPerSecond === null ? null : bytesPerSecond / (adapterReadGBps * 1e9),
    weightGBps: bytesPerSecond === null ? null : bytesPerSecond / 1e9,
    prefillPromptTokens: promptTokens,
    ...extraPrefill,
    cacheFill: run.opened.cacheFill,
    ...run.opened.details,
    spread,
  };
}

function spreadName(figureName: string): string {
  return {
    decode: 'decodeTokensPerSecond',
    prefill: 'prefillTokensPerSecond',
    decodeAtLongContext: 'decodeTokensPerSecondAt4096',
  }[figureName]!;
}

function ratios(ours: CaseRun, peer: CaseRun | undefined, plan: CasePlan, name: EngineName) {
  const promptTokens = plan.prefillPromptTokens[name];
  const o = figuresOf(ours, promptTokens);
  const p = peer === undefined || peer.unavailable !== undefined ? null : figuresOf(peer, promptTokens);
  return {
    decode: ratio(o.decode, p?.decode ?? null),
    prefill: ratio(o.prefill, p?.prefill ?? null),
    decodeAt4096: ratio(o.decodeAtLongContext, p?.decodeAtLongContext ?? null),
    prefillPromptTokens: promptTokens,
  };
}

const method =
  'Each engine in a child process of its own, all on the same GGUF file. Every figure is the median ' +
  'of `runs` runs, interleaved between the engines (round 1: ours, llamaCppVulkan, llamaCppCpu; ' +
  'round 2: ...), after a warm-up per engine and model (pipeline or shader compilation, first ' +
  'steps) that is not timed. decode: tokens per second of `decodeTokens` (ours: `oursDecodeTokens`, ' +
  "more steps of the faster engine averaging out the shared machine's bursts) batch-1 greedy decode " +
  'steps continuing a cached `decodePromptTokens`-token prompt. prefill: prompt tokens / wall time ' +
  'from the call to the first sampled token, on an empty cache, a different prompt each run. ' +
  'decodeAt4096: decode continuing a cached context of `decodeAt4096CachedTokens` tokens, the last ' +
  'timed step attending to all 4096 positions; every run decodes from the same cached context ' +
  '(llama.cpp reloads its saved state, ours finds it in its prefix cache). Prompts are ' +
  'deterministic random token ids. fractionOfAdapterReadBandwidth: weightBytesPerToken x decode ' +
  'tokens/s over adapterRoofline.readGBps. Ours runs with its JavaScript thread yielding the cores ' +
  "to lavapipe's threads (yieldHostThread), its adapter roofline measured in the same process.";

type ModelResult = ReturnType<typeof modelResult>;

function modelResult(plan: CasePlan, path: string, runs: Map<EngineName, CaseRun>, adapterReadGBps: number) {
  const ours = runs.get('ours')!;
  const entry = (name: EngineName) => {
    const run = runs.get(name);
    return run === undefined
      ? { unavailable: 'not asked for (--peers)' }
      : engineEntry(name, run, plan, adapterReadGBps);
  };
  return {
    model: plan.model.name,
    dtype: plan.model.dtype,
    file: basename(path),
    weightBytesPerToken: weightBytesPerToken(plan.model),
    decodePromptTokens: plan.decodePromptTokens,
    decodeTokens: plan.decodeTokens,
    oursDecodeTokens: plan.oursDecodeTokens,
    decodeAt4096CachedTokens: plan.longContextTokens,
    ours: entry('ours'),
    llamaCppVulkan: entry('llamaCppVulkan'),
    llamaCppCpu: entry('llamaCppCpu'),
    ratioVsLlamaCppVulkan: ratios(ours, runs.get('llamaCppVulkan'), plan, 'llamaCppVulkan'),
    ratioVsLlamaCppCpu: ratios(ours, runs.get('llamaCppCpu'), plan, 'llamaCppCpu'),
  };
}

function tableRows(result: ModelResult): Record<string, Cell>[] {
  const ratioTo = {
    ours: undefined,
    llamaCppVulkan: result.ratioVsLlamaCppVulkan,
    llamaCppCpu: result.ratioVsLlamaCppCpu,
  };
  return ENGINE_NAMES.map((name) => {
    const entry = result[name];
    const row: Record<string, Cell> = { model: result.model, engine: name };
    if ('unavailable' in entry) return { ...row, 'decode tok/s': 'unavailable' };
    const ratio = ratioTo[name];
    return {
      ...row,
      'decode tok/s': entry.decodeTokensPerSecond,
      'prefill tok/s': entry.prefillTokensPerSecond,
      prompt: entry.prefillPromptTokens,
      'decode@4096 tok/s': entry.decodeTokensPerSecondAt4096,
      'of adapter read': entry.fractionOfAdapterReadBandwidth,
      'ours/this decode': ratio?.decode,
      'ours/this prefill': ratio?.prefill,
      'ours/this decode@4096': ratio?.decodeAt4096,
    };
  });
}

export async function main(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  if (options === undefined) {
    process.stdout.write(usage);
    return;
  }
  const started = performance.now();
  const models = DECODE_MODELS.filter((m) => !(options.skip1b && m.preset === 'llama1b'));
  const paths = new Map<DecodeModel, string>();
  for (const m of models) paths.set(m, await ensureModelFile(m));
  progress("measuring the machine's memory bandwidth");
  const machine = await measureMachine();
  // Ours first, alone: its start() measures the adapter's roofline.
  const engines = [await startEngine('ours', options)];
  for (const name of ROUND_ORDER) {
    if (options.peers.includes(name)) engines.push(await startEngine(name, options));
  }
  const oursStart = engines[0]!.started!.details;
  const adapterRoofline = oursStart['adapterRoofline'] as { readGBps: number };
  const results = [];
  try {
    for (const m of models) {
      const plan = planCase(m, options);
      const path = paths.get(m)!;
      progress(`${m.name} (${path})`);
      const caseStarted = performance.now();
      const runs = (await runCases([{ plan, path, engines }], engines, options))[0]!;
      const wallSeconds = (performance.now() - caseStarted) / 1000;
      results.push({ ...modelResult(plan, path, runs, adapterRoofline.readGBps), wallSeconds });
    }
  } finally {
    for (const engine of engines) engine.process?.stop();
  }
  printTable(results.flatMap(tableRows));
  const path = await writeResult('decode', {
    method,
    runs: options.runs,
    adapterRoofline,
    hostThreadYielded: oursStart['hostThreadYielded'],
    // JavaScript reads the machine's memory slower than llama.cpp's AVX loops do: the measured
    // figure is a lower bound of the memory bandwidth, so llama.cpp can exceed it.
    machineRoofline: { ...machine, method: machineMethod },
    models: results,
    wallSeconds: (performance.now() - started) / 1000,
  });
  progress(`wrote ${path}`);
}
