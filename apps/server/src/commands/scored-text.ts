import { readFile } from 'node:fs/promises';
import { Engine, type ScoredWindow } from '@llm/engine';
import type { GpuContext } from '@llm/kernels';
import type { GpuKvDtype } from '@llm/quant';
import type { ModelRunner, OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import { CliUsageError } from '../cli-error.js';
import { createRunner, type Backend } from './create-runner.js';
import { resolveModelArgument } from './model-argument.js';
import { w8a8Option } from './w8a8-option.js';

// What `llm ppl` and `llm kld` share: the model opened for scoring, the token stream (a text file
// or the model's own text) and one window's logits.

export interface ScoringModel {
  readonly model: OpenedModel;
  readonly runner: ModelRunner;
  readonly ctx: GpuContext | undefined;
  close(): Promise<void>;
}

/** Logits rows read per GPU submit: the runner's logits scratch holds this many. */
const LOGIT_ROWS = 64;

/**
 * Opens `--model` (a path, URL or reference) with a runner whose steps take a whole window of
 * `stepTokens`; a second model may share the first one's GPU context.
 */
export async function openScoringModel(
  modelArgument: string,
  tokenizer: string | undefined,
  backend: Backend,
  stepTokens: number,
  numerics: { kvDtype: GpuKvDtype; activations: 'f32' | 'int8'; w8a8File?: string | undefined },
  ctx?: GpuContext,
): Promise<ScoringModel> {
  const resolved = await resolveModelArgument(modelArgument);
  const tokenizerPath = tokenizer ?? resolved.tokenizerPath;
  const model = await openModel(resolved.path, tokenizerPath === undefined ? {} : { tokenizerPath });
  try {
    const w8a8 = await w8a8Option(numerics.w8a8File, backend, model.tokenizer, model.source.config.contextLength);
    const options = { maxStepTokens: Math.max(512, stepTokens), maxSeqs: LOGIT_ROWS, kvDtype: numerics.kvDtype, activations: numerics.activations, ...(w8a8 ? { w8a8 } : {}) };
    const { runner, ctx: used } = await createRunner(backend, model.source, options, ctx);
    return {
      model,
      runner,
      ctx: used,
      close: async () => {
        runner.dispose();
        await model.source.close();
      },
    };
  } catch (error) {
    await model.source.close();
    throw error;
  }
}

/** The window length: --context, else min(512, the model's context); at most the model's context. */
export function windowContext(requested: number | undefined, modelContext: number): number {
  const context = requested ?? Math.min(512, modelContext);
  if (context > modelContext) {
    throw new CliUsageError(`--context ${context} is beyond the model's context of ${modelContext} tokens`);
  }
  return context;
}

/** The text file, tokenized as llama-perplexity does: special tokens added (BOS first when the model wants it). */
export async function textFileTokens(path: string, model: OpenedModel): Promise<number[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliUsageError(`--text-file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error)}`);
  }
  return model.tokenizer.encode(text, { addSpecial: true });
}

/**
 * `count` tokens the model generates itself at temperature 1 (no top-k, top-p or min-p) from BOS:
 * one sample after another, each from BOS until an end-of-generation token or the model's context,
 * laid end to end with their BOS (the end tokens left out) and cut at `count`. Sample k draws with
 * seed `seed + k`.
 */
export async function generatedTokens(
  scoring: ScoringModel,
  count: number,
  seed: number,
  onProgress: (done: number, total: number) => void,
): Promise<number[]> {
  const { tokenizer } = scoring.model;
  const bos = tokenizer.bosId;
  if (bos === undefined) throw new CliUsageError("--generate starts from BOS, and this model's tokenizer has none: give --text-file");
  const engine = new Engine(scoring.runner, tokenizer);
  const maxLen = scoring.model.source.config.contextLength;
  const tokens: number[] = [];
  try {
    for (let k = 0; tokens.length < count; k++) {
      const result = await engine.complete({
        promptIds: [bos],
        maxTokens: Math.max(1, Math.min(count - tokens.length - 1, maxLen - 1)),
        sampling: { temperature: 1, topP: 1, topK: 0, minP: 0 },
        seed: (seed + k) % 2 ** 32,
      });
      const ids = result.completions[0]!.tokenIds.filter((id) => !tokenizer.eogIds.has(id));
      tokens.push(bos, ...ids);
      onProgress(Math.min(tokens.length, count), count);
    }
  } finally {
    await engine.close();
  }
  return tokens.slice(0, count);
}

/**
 * The logits that score one window: positions window.first .. length - 2 of the window's tokens
 * (the first replaced by BOS when the tokenizer adds one, as llama-perplexity does), each row
 * predicting the token after it. KV blocks 0.. of the pool hold the window; each window overwrites
 * them.
 */
export async function windowLogits(
  runner: ModelRunner,
  tokens: readonly number[],
  window: ScoredWindow,
  bos: number | undefined,
): Promise<Float32Array> {
  const ids = tokens.slice(window.start, window.start + window.length);
  if (bos !== undefined) ids[0] = bos;
  const blockTable = Array.from({ length: Math.ceil(ids.length / runner.blockSize) }, (_, i) => i);
  const rows = Array.from({ length: window.length - 1 - window.first }, (_, i) => window.first + i);
  return runner.logits([{ tokens: ids, startPos: 0, blockTable }], { rows });
}

/** BOS to put first in every window, as llama-perplexity does when the vocabulary adds BOS. */
export function windowBos(model: OpenedModel): number | undefined {
  return model.tokenizer.addBos ? model.tokenizer.bosId : undefined;
}

/** Checks the token ids against the model's vocabulary (a text file tokenized by another tokenizer). */
export function checkTokens(tokens: readonly number[], vocabSize: number): void {
  const bad = tokens.find((t) => t >= vocabSize);
  if (bad !== undefined) throw new CliUsageError(`token id ${bad} is outside the model's vocabulary of ${vocabSize}`);
}

/** Four significant digits, enough for these figures. */
export function fmt(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}
