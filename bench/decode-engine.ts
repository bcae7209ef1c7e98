// What the decode benchmark asks of each engine it compares. Every engine runs in a child process
// of its own (bench/decode-engine-worker.ts) behind this interface.
import { SeededRandom } from '@llm/formats';

export const ENGINE_NAMES = ['ours', 'llamaCppVulkan', 'llamaCppCpu'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** One model as every engine measures it. */
export interface CaseSpec {
  modelPath: string;
  /** Tokens cached before the timed steps of `decode`. */
  decodePromptTokens: number;
  /** Timed single-token decode steps per run. */
  decodeTokens: number;
  /** Tokens cached before the timed steps of `decodeAtLongContext`; null: not measured. */
  longContextTokens: number | null;
  /** The prompt lengths this engine's prefill runs will have. */
  prefillPromptTokens: number[];
  /**
   * Where the first engine to fill a context saves it for the others (llama.cpp's CPU backend
   * fills, its Vulkan backend loads); empty at the start of each model.
   */
  cacheDir: string;
  /** Ours only: compute the long context with a prefill instead of registering its blocks. */
  computeLongContext: boolean;
  /** Ours only: after warm-up, one untimed decode under a kernel profile, printed on stderr. */
  profile: boolean;
  /** Ours only: the runner's `activations` (int8: Q4_0 and Q8_0 products on int8 activations); default f32. */
  activations?: 'f32' | 'int8';
}

/** For a prefill, `run` picks the prompt: each run prefills other tokens, so nothing is cached. */
export type MeasuredFigure =
  | { figure: 'decode' }
  | { figure: 'decodeAtLongContext' }
  | { figure: 'prefill'; promptTokens: number; run: number };

/** A figure of one opened model: `model` is its index in open order (an engine may hold several). */
export type Measurement = { model: number } & MeasuredFigure;

/** Facts about an engine worth recording once, e.g. the roofline it measured. */
export interface EngineStart {
  details: Record<string, unknown>;
}

/** How an engine holds a model: recorded beside its figures. */
export interface OpenedCase {
  /** The device it computes on, e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'. */
  adapter: string;
  /** How the contexts that decode continues came to be cached. */
  cacheFill: string;
  details: Record<string, unknown>;
}

export interface DecodeEngine {
  start(): Promise<EngineStart>;
  /**
   * Loads a model, fills its contexts and warms up (compiles, first steps): nothing timed. The
   * models opened before stay open: measurements alternate between them.
   */
  open(spec: CaseSpec): Promise<OpenedCase>;
  /** One run of one figure of one opened model, in tokens per second. */
  measure(measurement: Measurement): Promise<number>;
  /** Frees every opened model. */
  close(): Promise<void>;
}

const DECODE_PROMPT_SEED = 1;
const LONG_CONTEXT_SEED = 2;

/**
 * Deterministic token ids, the same for every engine. Ids 0-2 (unknown, BOS, EOS in the synthetic
 * vocabulary) are left out: a prompt is ordinary text to every engine.
 */
export function promptIds(length: number, seed: number, vocabSize: number): number[] {
  const random = new SeededRandom(seed);
  return Array.from({ length }, () => 3 + (random.nextU32() % (vocabSize - 3)));
}

export function decodePrompt(spec: CaseSpec, vocabSize: number): number[] {
  return promptIds(spec.decodePromptTokens, DECODE_PROMPT_SEED, vocabSize);
}

export function longContextPrompt(length: number, vocabSize: number): number[] {
  return promptIds(length, LONG_CONTEXT_SEED, vocabSize);
}

/** A prefill run's prompt; seeds differ from the ones above and between runs and lengths. */
export function prefillPrompt(promptTokens: number, run: number, vocabSize: number): number[] {
  return promptIds(promptTokens, 1000 * promptTokens + 10 + run, vocabSize);
}
