/**
 * Batch-1 decode and prefill of block-quantized weights read in place (Q8_0, Q4_0, Q4_K) against
 * this engine's own F16 (and F32 on the 110M shape), with llama.cpp on its Vulkan backend (same
 * adapter) and on its CPU backend measured on the same files in the same run. The decode
 * benchmark's machinery does the measuring: an engine per child process, interleaved rounds,
 * medians, warm-ups untimed (bench/decode.ts, bench/decode-engine*.ts).
 *
 * Run: pnpm bench quant [options] (--help lists them). Table on stdout, progress on stderr, JSON
 * in bench/results/quant.json. bench/README.md ("quant") describes every field.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { syntheticLlamaPresets, type SyntheticLlamaPreset, type SyntheticQuantization } from '@llm/formats';
import { elementType, type ElementTypeName } from '@llm/quant';
import { printTable, progress, type Cell } from './console-report.js';
import type { EngineName } from './decode-engine.js';
import { ensureSyntheticModel } from './decode-models.js';
import {
  figure,
  integerOption,
  peersOption,
  ROUND_ORDER,
  runCases,
  startEngine,
  type CasePlan,
  type CaseRun,
  type Engine,
  type Figure,
} from './decode.js';
import { writeResult } from './result-writer.js';
import type { Spread } from './run-spread.js';

const usage = `pnpm bench quant [options]

  --runs N                   runs of every figure, interleaved between the types and engines (default 3)
  --tokens N                 timed decode steps per run (default 16; the 1.1B model times half)
  --our-tokens N             ours' timed decode steps per run (default 64; the 1.1B model times
                             a quarter): more steps of the faster engine average out the shared
                             machine's bursts at little cost
  --prefill-tokens N         prefill prompt of the 110M models, ours and llama.cpp CPU (default 1024)
  --prefill-tokens-1b N      prefill prompt of the 1.1B models, ours and llama.cpp CPU (default 32)
  --vulkan-prefill-tokens N  prefill prompt of llama.cpp Vulkan, both shapes (default 8; ours is
                             measured at this length too, for the ratio)
  --decode-prompt-tokens N   tokens cached before decode's timed steps (default 128)
  --peers LIST               llama.cpp backends to compare with: cpu,vulkan (default), cpu, vulkan, none
  --llama-threads N          llama.cpp's threads (default: the cores, ${availableParallelism()})
  --skip-1b                  leave out the 1.1B models
  --help                     this text
`;

interface Options {
  runs: number;
  tokens: number;
  ourTokens: number;
  prefillTokens: number;
  prefillTokens1b: number;
  vulkanPrefillTokens: number;
  decodePromptTokens: number;
  peers: EngineName[];
  llamaThreads: number;
  skip1b: boolean;
}

function parseOptions(args: readonly string[]): Options | undefined {
  const { values } = parseArgs({
    args: [...args],
    options: {
      runs: { type: 'string', default: '3' },
      tokens: { type: 'string', default: '16' },
      'our-tokens': { type: 'string', default: '64' },
      'prefill-tokens': { type: 'string', default: '1024' },
      'prefill-tokens-1b': { type: 'string', default: '32' },
      'vulkan-prefill-tokens': { type: 'string', default: '8' },
      'decode-prompt-tokens': { type: 'string', default: '128' },
      peers: { type: 'string', default: 'cpu,vulkan' },
      'llama-threads': { type: 'string', default: String(availableParallelism()) },
      'skip-1b': { type: 'boolean', default: false },
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
    prefillTokens1b: count('prefill-tokens-1b', 1),
    vulkanPrefillTokens: count('vulkan-prefill-tokens', 1),
    decodePromptTokens: count('decode-prompt-tokens', 1),
    peers: peers as EngineName[],
    llamaThreads: count('llama-threads', 1),
    skip1b: values['skip-1b'],
  };
}

type TypeName = 'f32' | 'f16' | 'q8_0' | 'q8_0_a8' | 'q4_0' | 'q4_0_a8' | 'q4_k';
const QUANTIZED: readonly TypeName[] = ['q8_0', 'q8_0_a8', 'q4_0', 'q4_0_a8', 'q4_k'];
const FOUR_BIT: readonly TypeName[] = ['q4_0', 'q4_0_a8', 'q4_k'];

// Blocks per (type, weight scale) pool of the quantized files: see SyntheticQuantization.blockPool.
const BLOCK_POOL = 4096;

interface WeightType {
  name: TypeName;
  /** Storage of every matrix, and of the LM head where it differs. */
  matrices: ElementTypeName;
  output: ElementTypeName;
  quantize?: SyntheticQuantization;
  description: string;
  /**
   * Ours runs its products on int8 activations (runner option `activations: 'int8'`, `llm
   * --activations int8`); the file is int8Of's, and the peers' figures are that type's.
   */
  int8Of?: TypeName;
}

const WEIGHT_TYPES: Record<TypeName, WeightType> = {
  f32: { name: 'f32', matrices: 'f32', output: 'f32', description: 'every matrix F32' },
  f16: { name: 'f16', matrices: 'f16', output: 'f16', description: 'every matrix F16' },
  q8_0: {
    name: 'q8_0',
    matrices: 'q8_0',
    output: 'q8_0',
    quantize: { matrices: 'q8_0', blockPool: BLOCK_POOL },
    description: 'every matrix Q8_0, token embedding and LM head included',
  },
  q4_0: {
    name: 'q4_0',
    matrices: 'q4_0',
    output: 'q4_0',
    quantize: { matrices: 'q4_0', blockPool: BLOCK_POOL },
    description: 'every matrix Q4_0, token embedding and LM head included',
  },
  q8_0_a8: {
    name: 'q8_0_a8',
    matrices: 'q8_0',
    output: 'q8_0',
    quantize: { matrices: 'q8_0', blockPool: BLOCK_POOL },
    description: "the q8_0 file; ours with its Q8_0 products on int8 activations (activations: 'int8'), the peers' figures are q8_0's",
    int8Of: 'q8_0',
  },
  q4_0_a8: {
    name: 'q4_0_a8',
    matrices: 'q4_0',
    output: 'q4_0',
    quantize: { matrices: 'q4_0', blockPool: BLOCK_POOL },
    description: "the q4_0 file; ours with its Q4_0 products on int8 activations (activations: 'int8'), the peers' figures are q4_0's",
    int8Of: 'q4_0',
  },
  q4_k: {
    name: 'q4_k',
    matrices: 'q4_k',
    output: 'q6_k',
    quantize: { matrices: 'q4_k', output: 'q6_k', blockPool: BLOCK_POOL },
    description:
      'Q4_K_M-like: every matrix Q4_K (token embedding included) and the LM head Q6_K; ' +
      "unlike llama.cpp's Q4_K_M, attn_v and ffn_down stay Q4_K in every layer",
  },
};

interface QuantModel {
  /** The results' key: '110m' or '1.1b'. */
  key: string;
  preset: SyntheticLlamaPreset;
  types: readonly TypeName[];
}

const MODELS: readonly QuantModel[] = [
  { key: '110m', preset: 'llama110m', types: ['f32', 'f16', 'q8_0', 'q8_0_a8', 'q4_0', 'q4_0_a8', 'q4_k'] },
  { key: '1.1b', preset: 'llama1b', types: ['f16', 'q8_0', 'q8_0_a8', 'q4_0', 'q4_0_a8', 'q4_k'] },
];

/** The model's GGUF file in .cache/models, written first if absent (seed 1, as decode's). */
async function ensureFile(m: QuantModel, type: WeightType): Promise<string> {
  if (type.int8Of !== undefined) return ensureFile(m, WEIGHT_TYPES[type.int8Of]);
  if (type.quantize === undefined) {
    return ensureSyntheticModel(`${m.preset}-${type.name}.gguf`, {
      preset: m.preset,
      dtype: type.name as 'f32' | 'f16',
    });
  }
  return ensureSyntheticModel(`${m.preset}-${type.name}-pool${BLOCK_POOL}.gguf`, {
    preset: m.preset,
    dtype: 'f16',
    quantize: type.quantize,
  });
}

function bytesPerElement(type: ElementTypeName): number {
  const t = elementType(type);
  return t.bytesPerBlock / t.blockSize;
}

/** Bytes of weights one decode step streams: every layer matrix and the LM head. */
function weightBytesPerToken(m: QuantModel, type: WeightType): number {
  const s = syntheticLlamaPresets[m.preset];
  const headDim = s.dim / s.numHeads;
  const q = s.numHeads * headDim;
  const kv = s.numKvHeads * headDim;
  const perLayer = s.dim * (q + 2 * kv) + q * s.dim + 3 * s.dim * s.hiddenDim;
  return (
    s.numLayers * perLayer * bytesPerElement(type.matrices) +
    s.vocabSize * s.dim * bytesPerElement(type.output)
  );
}

function planFor(m: QuantModel, type: WeightType, options: Options): CasePlan {
  const large = m.preset === 'llama1b';
  const prefill = large ? options.prefillTokens1b : options.prefillTokens;
  return {
    model: {
      name: `${m.preset}-${type.name}`,
      preset: m.preset,
      dtype: type.name === 'f32' ? 'f32' : 'f16',
      shape: syntheticLlamaPresets[m.preset],
      longContext: false,
    },
    decodePromptTokens: options.decodePromptTokens,
    // The 1.1B model decodes at about a tenth of the 110M speed: half the steps keep the run short.
    decodeTokens: large ? Math.max(1, options.tokens >> 1) : options.tokens,
    oursDecodeTokens: large ? Math.max(1, options.ourTokens >> 2) : options.ourTokens,
    longContextTokens: null,
    prefillPromptTokens: { ours: prefill, llamaCppCpu: prefill, llamaCppVulkan: options.vulkanPrefillTokens },
  };
}

type ByType<T> = Partial<Record<TypeName, T>>;

/** One engine's figures for one type of one model. */
interface TypeFigures {
  decode: Figure | null;
  prefill: Figure | null;
  /** Ours only: prefill at the Vulkan peer's prompt length. */
  prefillAtVulkanPrompt: Figure | null;
  unavailable: string | undefined;
  adapter: string | undefined;
}

function typeFigures(name: EngineName, run: CaseRun | undefined, plan: CasePlan): TypeFigures {
  if (run === undefined) {
    const none = { decode: null, prefill: null, prefillAtVulkanPrompt: null, adapter: undefined };
    return { ...none, unavailable: 'not asked for (--peers)' };
  }
  const ok = run.unavailable === undefined && run.opened !== undefined;
  return {
    decode: ok ? figure(run, 'decode') : null,
    prefill: ok ? figure(run, `prefill:${plan.prefillPromptTokens[name]}`) : null,
    prefillAtVulkanPrompt:
      ok && name === 'ours' ? figure(run, `prefill:${plan.prefillPromptTokens.llamaCppVulkan}`) : null,
    unavailable: ok ? undefined : (run.unavailable ?? 'not measured'),
    adapter: run.opened?.adapter,
  };
}

const median = (f: Figure | null | undefined): number | null => f?.median ?? null;
const divide = (a: number | null, b: number | null): number | null =>
  a !== null && b !== null && b > 0 ? a / b : null;

function mapTypes<T, U>(
  types: readonly TypeName[],
  values: ByType<T>,
  f: (value: T, type: TypeName) => U,
): ByType<U> {
  const out: ByType<U> = {};
  for (const type of types) if (values[type] !== undefined) out[type] = f(values[type], type);
  return out;
}

function peerEntry(
  name: EngineName,
  types: readonly TypeName[],
  figures: ByType<Record<EngineName, TypeFigures>>,
  promptTokens: number,
  engine: Engine | undefined,
) {
  if (engine === undefined) return { unavailable: 'not asked for (--peers)' };
  const of = mapTypes(types, figures, (f) => f[name]);
  const unavailable = mapTypes(types, of, (f) => f.unavailable);
  const adapters = [...new Set(types.map((t) => of[t]?.adapter).filter((a) => a !== undefined))];
  if (types.every((t) => unavailable[t] !== undefined)) {
    return { unavailable: engine.unavailable ?? unavailable[types[0]!] ?? 'not measured' };
  }
  const missing = Object.fromEntries(Object.entries(unavailable).filter(([, v]) => v !== undefined));
  return {
    adapter: adapters.length === 1 ? adapters[0] : adapters,
    decodeTokensPerSecond: mapTypes(types, of, (f) => median(f.decode)),
    prefillTokensPerSecond: mapTypes(types, of, (f) => median(f.prefill)),
    prefillPromptTokens: promptTokens,
    ...(Object.keys(missing).length > 0 ? { unavailableTypes: missing } : {}),
    spread: mapTypes(types, of, (f) => spreadOf(f)),
  };
}

function spreadOf(f: TypeFigures): Record<string, Spread> {
  const spread: Record<string, Spread> = {};
  if (f.decode !== null) spread['decodeTokensPerSecond'] = f.decode.spread;
  if (f.prefill !== null) spread['prefillTokensPerSecond'] = f.prefill.spread;
  if (f.prefillAtVulkanPrompt !== null)
    spread['prefillTokensPerSecondAtVulkanPrompt'] = f.prefillAtVulkanPrompt.spread;
  return spread;
}

interface ModelResult {
  key: string;
  json: Record<string, unknown>;
  rows: Record<string, Cell>[];
  targets: Record<string, unknown>;
}

function modelResult(
  m: QuantModel,
  types: readonly TypeName[],
  plans: ByType<CasePlan>,
  files: ByType<string>,
  figures: ByType<Record<EngineName, TypeFigures>>,
  engines: readonly Engine[],
  adapterReadGBps: number,
  wallSeconds: number,
): ModelResult {
  const plan = plans[types[0]!]!;
  const ours = mapTypes(types, figures, (f) => f.ours);
  const oursDecode = mapTypes(types, ours, (f) => median(f.decode));
  const oursPrefill = mapTypes(types, ours, (f) => median(f.prefill));
  const oursPrefillAtVulkan = mapTypes(types, ours, (f) => median(f.prefillAtVulkanPrompt));
  const peer = (name: EngineName) => mapTypes(types, figures, (f) => f[name]);
  const vulkan = peer('llamaCppVulkan');
  const cpu = peer('llamaCppCpu');
  const f16Decode = oursDecode.f16 ?? null;
  const f16Prefill = oursPrefill.f16 ?? null;
  const ratios = mapTypes(types, ours, (_, t) => ({
    decodeVsOurF16: divide(oursDecode[t] ?? null, f16Decode),
    prefillVsOurF16: divide(oursPrefill[t] ?? null, f16Prefill),
    decodeVsLlamaCppVulkan: divide(oursDecode[t] ?? null, median(vulkan[t]?.decode)),
    // At the Vulkan peer's prompt length, which ours is also measured at.
    prefillVsLlamaCppVulkan: divide(oursPrefillAtVulkan[t] ?? null, median(vulkan[t]?.prefill)),
    decodeVsLlamaCppCpu: divide(oursDecode[t] ?? null, median(cpu[t]?.decode)),
    prefillVsLlamaCppCpu: divide(oursPrefill[t] ?? null, median(cpu[t]?.prefill)),
  }));
  const bytes = mapTypes(types, ours, (_, t) => weightBytesPerToken(m, WEIGHT_TYPES[t]));
  const targets = modelTargets(types, ratios);
  const json = {
    decodeTokensPerSecond: oursDecode,
    prefillTokensPerSecond: oursPrefill,
    llamaCppCpu: peerEntry(
      'llamaCppCpu',
      types,
      figures,
      plan.prefillPromptTokens.llamaCppCpu,
      engineOf(engines, 'llamaCppCpu'),
    ),
    llamaCppVulkan: peerEntry(
      'llamaCppVulkan',
      types,
      figures,
      plan.prefillPromptTokens.llamaCppVulkan,
      engineOf(engines, 'llamaCppVulkan'),
    ),
    prefillPromptTokens: plan.prefillPromptTokens.ours,
    prefillTokensPerSecondAtVulkanPrompt: oursPrefillAtVulkan,
    vulkanPrefillPromptTokens: plan.prefillPromptTokens.llamaCppVulkan,
    decodePromptTokens: plan.decodePromptTokens,
    decodeTokens: plan.decodeTokens,
    oursDecodeTokens: plan.oursDecodeTokens,
    ratios,
    weightBytesPerToken: bytes,
    weightGBps: mapTypes(types, bytes, (b, t) => (oursDecode[t] == null ? null : (b * oursDecode[t]) / 1e9)),
    fractionOfAdapterReadBandwidth: mapTypes(types, bytes, (b, t) =>
      oursDecode[t] == null ? null : (b * oursDecode[t]) / (adapterReadGBps * 1e9),
    ),
    files: mapTypes(types, files, (path, t) => ({
      file: basename(path),
      bytes: statSync(path).size,
      weights: WEIGHT_TYPES[t].description,
    })),
    adapter: ours[types[0]!]?.adapter,
    spread: mapTypes(types, ours, (f) => spreadOf(f)),
    targets,
    wallSeconds,
  };
  const rows = types.map((t) => ({
    model: m.key,
    type: t,
    'decode tok/s': oursDecode[t],
    'x f16': ratios[t]?.decodeVsOurF16,
    [`prefill@${plan.prefillPromptTokens.ours}`]: oursPrefill[t],
    'prefill x f16': ratios[t]?.prefillVsOurF16,
    'vk decode': median(vulkan[t]?.decode) ?? vulkan[t]?.unavailable?.slice(0, 20),
    'x vk': ratios[t]?.decodeVsLlamaCppVulkan,
    [`vk prefill@${plan.prefillPromptTokens.llamaCppVulkan}`]: median(vulkan[t]?.prefill),
    [`ours prefill@${plan.prefillPromptTokens.llamaCppVulkan}`]: oursPrefillAtVulkan[t],
    'cpu decode': median(cpu[t]?.decode) ?? cpu[t]?.unavailable?.slice(0, 20),
    'x cpu': ratios[t]?.decodeVsLlamaCppCpu,
    [`cpu prefill@${plan.prefillPromptTokens.llamaCppCpu}`]: median(cpu[t]?.prefill),
  }));
  return { key: m.key, json, rows, targets };
}

function engineOf(engines: readonly Engine[], name: EngineName): Engine | undefined {
  return engines.find((e) => e.name === name);
}

/** met: true / false; null where a figure is missing (a peer unavailable). */
function modelTargets(
  types: readonly TypeName[],
  ratios: ByType<{
    decodeVsOurF16: number | null;
    prefillVsOurF16: number | null;
    decodeVsLlamaCppVulkan: number | null;
  }>,
) {
  const check = (value: number | null | undefined, target: number) => ({
    value: value ?? null,
    target,
    met: value === null || value === undefined ? null : value >= target,
  });
  const fourBit = FOUR_BIT.filter((t) => types.includes(t));
  const best = fourBit.reduce<TypeName | null>((a, t) => {
    const v = ratios[t]?.decodeVsOurF16 ?? null;
    return v !== null && (a === null || v > (ratios[a]?.decodeVsOurF16 ?? -1)) ? t : a;
  }, null);
  const quantized = QUANTIZED.filter((t) => types.includes(t));
  return {
    q8_0DecodeVsOurF16: check(ratios.q8_0?.decodeVsOurF16, 1.6),
    q8_0Int8ActivationsDecodeVsOurF16: check(ratios.q8_0_a8?.decodeVsOurF16, 1.6),
    best4BitDecodeVsOurF16: {
      type: best,
      ...check(best === null ? null : ratios[best]?.decodeVsOurF16, 2.2),
    },
    decodeVsLlamaCppVulkan: Object.fromEntries(
      quantized.map((t) => [t, check(ratios[t]?.decodeVsLlamaCppVulkan, 1.5)]),
    ),
    prefillVsOurF16: Object.fromEntries(quantized.map((t) => [t, check(ratios[t]?.prefillVsOurF16, 0.85)])),
  };
}

const method =
  "The decode benchmark's machinery (bench/decode.ts): each engine in a child process of its own, " +
  "holding every type's file of a model at once; every figure is the median of `runs` runs, " +
  'interleaved between the types and the engines (round 1: f32 on ours, llamaCppVulkan, ' +
  'llamaCppCpu, then f16 on each, ... every type; round 2: ...), so a drift in the speed of a shared ' +
  'machine touches every type and engine alike, after a warm-up per engine and file (pipeline or ' +
  'shader compilation, a prefill at each measured prompt length, first decode steps) that is not ' +
  'timed. decode: tokens per second of `decodeTokens` (ours: `oursDecodeTokens`, more steps of the ' +
  "faster engine averaging out the shared machine's bursts) batch-1 greedy decode steps " +
  'continuing a cached `decodePromptTokens`-token prompt (llama.cpp CPU prefills it and saves its ' +
  'state, llama.cpp Vulkan loads that state, ours keeps it in its prefix cache). prefill: prompt ' +
  'tokens / wall time from the call to the first sampled token, on an empty cache, a different prompt ' +
  'each run, at `prefillPromptTokens` (ours, llama.cpp CPU) and at `vulkanPrefillPromptTokens` ' +
  '(llama.cpp Vulkan, whose prefill of quantized types on lavapipe runs at a few tokens per second); ' +
  'ours is measured at both, and `ratios.prefillVsLlamaCppVulkan` compares equal prompts. Prompts are ' +
  'deterministic random token ids. q8_0_a8 and q4_0_a8: the q8_0 and q4_0 files, ours with the ' +
  "runner option activations: 'int8' (products on activations quantized to int8 per 32 values); " +
  "the peers are not run again for them and their figures are the file's. " +
  'Quantized files hold blocks drawn at random from pools of ' +
  `${BLOCK_POOL} blocks quantized by @llm/quant's reference quantizers from the weights' distribution ` +
  '(writeSyntheticLlamaGguf quantize.blockPool): real blocks of the same statistics, written in ' +
  'seconds; speeds do not depend on the values. fractionOfAdapterReadBandwidth: weightBytesPerToken ' +
  "(every layer matrix and the LM head, in their stored bytes) x decode tokens/s over the adapter's " +
  'read bandwidth measured in the same run.';

export async function main(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  if (options === undefined) {
    process.stdout.write(usage);
    return;
  }
  const started = performance.now();
  const models = MODELS.filter((m) => !(options.skip1b && m.preset === 'llama1b'));
  const files = new Map<QuantModel, ByType<string>>();
  for (const m of models) {
    const paths: ByType<string> = {};
    for (const t of m.types) paths[t] = await ensureFile(m, WEIGHT_TYPES[t]);
    files.set(m, paths);
  }
  // Ours first, alone: its start() measures the adapter's roofline.
  const engines = [await startEngine('ours', options)];
  for (const name of ROUND_ORDER) {
    if (options.peers.includes(name)) {
      progress(`starting ${name}`);
      const engine = await startEngine(name, options);
      if (engine.unavailable !== undefined) progress(`  ${name} unavailable: ${engine.unavailable}`);
      engines.push(engine);
    }
  }
  const oursStart = engines[0]!.started!.details;
  const adapterRoofline = oursStart['adapterRoofline'] as { readGBps: number };
  const results: ModelResult[] = [];
  try {
    for (const m of models) {
      const modelStarted = performance.now();
      const plans: ByType<CasePlan> = {};
      const figures: ByType<Record<EngineName, TypeFigures>> = {};
      // Every type of the model is open at once and measured in the same rounds (round r: each
      // type in turn, each engine in turn), so the ratios to F16 compare runs taken side by side.
      const cases = m.types.map((t) => {
        const path = files.get(m)![t]!;
        const plan = planFor(m, WEIGHT_TYPES[t], options);
        plans[t] = plan;
        // The int8-activation run is ours alone: the peers ran the same file as int8Of.
        const int8Of = WEIGHT_TYPES[t].int8Of;
        return {
          plan,
          path,
          engines: int8Of ? engines.filter((e) => e.name === 'ours') : engines,
          ...(int8Of ? { activations: 'int8' as const } : {}),
        };
      });
      progress(`${m.key}: ${m.types.join(', ')}`);
      const runs = await runCases(cases, engines, {
        runs: options.runs,
        computeFill: false,
        profile: false,
        oursFailureKeepsGoing: true,
      });
      for (const [i, t] of m.types.entries()) {
        const int8Of = WEIGHT_TYPES[t].int8Of;
        const run = runs[i]!;
        const ours = run.get('ours');
        if (ours?.unavailable !== undefined) progress(`  ours failed on ${t}: ${ours.unavailable}`);
        const peerOf = (name: EngineName) => (int8Of ? figures[int8Of]![name] : typeFigures(name, run.get(name), plans[t]!));
        figures[t] = {
          ours: typeFigures('ours', ours, plans[t]!),
          llamaCppVulkan: peerOf('llamaCppVulkan'),
          llamaCppCpu: peerOf('llamaCppCpu'),
        };
      }
      const wallSeconds = (performance.now() - modelStarted) / 1000;
      results.push(
        modelResult(
          m,
          m.types,
          plans,
          files.get(m)!,
          figures,
          engines,
          adapterRoofline.readGBps,
          wallSeconds,
        ),
      );
    }
  } finally {
    for (const engine of engines) engine.process?.stop();
  }
  printTable(results.flatMap((r) => r.rows));
  const path = await writeResult('quant', {
    method,
    runs: options.runs,
    adapterRoofline,
    hostThreadYielded: oursStart['hostThreadYielded'],
    models: Object.fromEntries(results.map((r) => [r.key, r.json])),
    targets: Object.fromEntries(results.map((r) => [r.key, r.targets])),
    wallSeconds: (performance.now() - started) / 1000,
  });
  progress(`wrote ${path}`);
}
