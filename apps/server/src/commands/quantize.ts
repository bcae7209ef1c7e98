import { access, constants, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { openGguf, quantizeModel, type QuantizeModelResult } from '@llm/formats/node';
import type { OpenedModel } from '@llm/model';
import { openModel, quantizeModelGptq } from '@llm/model/node';
import {
  BLOCK_DTYPES,
  GPTQ_TYPES,
  gptqGrid,
  isOneOf,
  quantMix,
  type BlockDtype,
  type QuantMix,
  type QuantTypeOverrides,
} from '@llm/quant';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import { readCalibrationText } from './calibration-text.js';
import type { quantizeSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';
import { checkTokens, generatedTokens, openScoringModel, windowContext } from './scored-text.js';

interface WrittenTensor {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly number[];
  readonly method?: 'rtn' | 'gptq';
}

type QuantizeValues = ParsedOptions<typeof quantizeSpec>['values'];

// GPTQ's options, refused without --method gptq.
const GPTQ_FLAGS = ['calibration', 'calibration-tokens', 'calibration-context', 'seed', 'group-size', 'damp', 'batch-columns'] as const;

/** Generated calibration tokens unless --calibration-tokens says otherwise. */
const DEFAULT_CALIBRATION_TOKENS = 2048;
/** Seed of the first generated calibration sample: away from kld's default 1. */
const DEFAULT_CALIBRATION_SEED = 1000;

/** `llm quantize IN OUT --type MIX [--method gptq]`: GGUF quantization with llama.cpp's mixes. */
export async function quantizeCommand({
  values,
  positionals,
}: ParsedOptions<typeof quantizeSpec>): Promise<void> {
  const [input, output] = positionals as [string, string];
  const mix = quantMix(values.type);
  const overrides: QuantTypeOverrides = {
    ...(values['output-type'] === undefined
      ? {}
      : { outputType: tensorTypeOption('output-type', values['output-type']) }),
    ...(values['token-embedding-type'] === undefined
      ? {}
      : { tokenEmbeddingType: tensorTypeOption('token-embedding-type', values['token-embedding-type']) }),
  };
  const gptq = values.method === 'gptq';
  checkGptqOptions(values, mix);
  await checkPaths(input, output);
  const calibration = gptq ? await calibrationSequences(input, values) : undefined;

  const progress = progressLine(`quantizing ${input} to ${mix.name}${gptq ? ' (GPTQ)' : ''}`);
  const common = {
    mix,
    overrides,
    ...(values.tokenizer === undefined ? {} : { tokenizerPath: values.tokenizer }),
    onProgress: ({ done, total }: { done: number; total: number }) => progress(done, total),
  };
  let result: QuantizeModelResult;
  let gptqTensors: ReadonlySet<string> = new Set();
  if (calibration === undefined) {
    result = await quantizeModel(input, output, common);
  } else {
    const tokens = calibration.reduce((n, s) => n + s.length, 0);
    const started = performance.now();
    const calibrating = progressLine(`GPTQ over ${tokens} calibration tokens (${calibration.length} sequences), matrix by matrix`);
    const done = await quantizeModelGptq(input, output, {
      ...common,
      calibration,
      ...(values['group-size'] === undefined ? {} : { groupSize: values['group-size'] }),
      ...(values.damp === undefined ? {} : { dampening: values.damp }),
      ...(values['batch-columns'] === undefined ? {} : { batchColumns: values['batch-columns'] }),
      sequential: values['layer-inputs'] === 'quantized',
      onCalibrationProgress: (n, total) => calibrating(n, total),
    });
    result = done;
    gptqTensors = new Set(done.gptqTensors);
    process.stderr.write(
      `[llm] GPTQ wrote ${done.gptqTensors.length} matrices in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        'the other tensors were rounded to nearest or kept\n',
    );
  }
  const written = result.tensors;
  const fallbacks = written.flatMap((t) =>
    t.fallbackFrom === undefined ? [] : [`${t.name} (rows of ${t.shape[t.shape.length - 1]}): ${t.fallbackFrom} -> ${t.type}`],
  );
  for (const line of fallbacks) process.stderr.write(`[llm] fallback: ${line}\n`);

  // Sizes as written: the tensor directory of the new file (rope_freqs.weight included).
  const file = await openGguf(output);
  let weights = 0;
  let tensorBytes = 0;
  const tensors: WrittenTensor[] = [];
  try {
    for (const t of file.tensors) {
      const elements = t.shape.reduce((a, b) => a * b, 1);
      weights += elements;
      tensorBytes += t.byteLength;
      const w = written.find((x) => x.name === t.name) ?? { name: t.name, type: t.type.name, shape: t.shape };
      const method = gptqTensors.has(w.name) ? 'gptq' : 'rtn';
      const tagged = calibration !== undefined && t.shape.length >= 2 && isBlock(w.type);
      tensors.push({ name: w.name, type: w.type, shape: [...w.shape], ...(tagged ? { method } : {}) });
    }
  } finally {
    await file.close();
  }
  const sourceBytes = await sourceSize(input);
  const bytes = (await stat(output)).size;
  const bitsPerWeight = (tensorBytes * 8) / weights;
  const counts = new Map<string, number>();
  for (const t of tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  process.stderr.write(
    `[llm] wrote ${output}: ${mix.name} (general.file_type ${mix.fileType}), ${result.tensorCount} tensors ` +
      `(${[...counts].map(([type, n]) => `${n} ${type}`).join(', ')}); ${mib(sourceBytes)} -> ${mib(bytes)}, ` +
      `${bitsPerWeight.toFixed(2)} bits per weight` +
      (fallbacks.length > 0
        ? `; ${fallbacks.length} tensor${fallbacks.length === 1 ? '' : 's'} fell back (rows not whole blocks of the mix's type)`
        : '') +
      '\n',
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ type: mix.name, method: values.method, tensors, bytes, bitsPerWeight })}\n`);
  }
}

const isBlock = (type: string): boolean => isOneOf(BLOCK_DTYPES, type);

/** GPTQ's flags only with --method gptq, and a mix whose base type GPTQ writes. */
function checkGptqOptions(values: QuantizeValues, mix: QuantMix): void {
  if (values.method !== 'gptq') {
    const given = GPTQ_FLAGS.find((flag) => values[flag] !== undefined);
    if (given !== undefined) throw new CliUsageError(`--${given} applies to --method gptq only`);
    return;
  }
  if (!isOneOf(GPTQ_TYPES, mix.base)) {
    throw new CliUsageError(
      `--method gptq writes ${GPTQ_TYPES.join(', ')}; the ${mix.name} mix stores its matrices as ${mix.base}: choose a mix of those types or --method rtn`,
    );
  }
  const block = gptqGrid(mix.base).blockSize;
  const group = values['group-size'];
  if (group !== undefined && group % block !== 0) {
    throw new CliUsageError(`--group-size must be 0 or a multiple of ${mix.base}'s block of ${block} values, got ${group}`);
  }
  if (values.calibration !== undefined && values.seed !== undefined) {
    throw new CliUsageError('--seed sets the generated calibration text; it does not apply with --calibration FILE');
  }
}

/**
 * The calibration text, cut into sequences of --calibration-context tokens (the last may be
 * shorter), each starting with BOS: --calibration's file, or text the model generates itself.
 */
async function calibrationSequences(input: string, values: QuantizeValues): Promise<number[][]> {
  const file = values.calibration;
  let tokens: number[];
  let model: OpenedModel;
  if (file !== undefined) {
    const text = await readCalibrationText('calibration', file);
    // Only the tokenizer is needed: no runner, no weights decoded.
    model = await openModel(input, values.tokenizer === undefined ? {} : { tokenizerPath: values.tokenizer });
    await model.source.close();
    tokens = model.tokenizer.encode(text, { addSpecial: true });
    if (values['calibration-tokens'] !== undefined) tokens = tokens.slice(0, values['calibration-tokens']);
    if (tokens.length < 2) throw new CliUsageError(`--calibration ${file}: ${tokens.length} tokens; GPTQ needs some text`);
  } else {
    const scoring = await openScoringModel(input, values.tokenizer, values.backend, 512, { kvDtype: 'f32', activations: 'f32' });
    try {
      model = scoring.model;
      // A bad --calibration-context is refused before the text is generated.
      windowContext(values['calibration-context'], model.source.config.contextLength);
      const count = values['calibration-tokens'] ?? DEFAULT_CALIBRATION_TOKENS;
      const seed = values.seed ?? DEFAULT_CALIBRATION_SEED;
      tokens = await generatedTokens(scoring, count, seed, progressLine('generating calibration text'));
    } finally {
      await scoring.close();
    }
  }
  const config = model.source.config;
  checkTokens(tokens, config.vocabSize);
  const context = windowContext(values['calibration-context'], config.contextLength);
  const bos = model.tokenizer.bosId;
  const sequences: number[][] = [];
  for (let at = 0; at < tokens.length; at += context) {
    const ids = tokens.slice(at, at + context);
    // Each sequence starts as the model reads text: with BOS (as llama-perplexity's windows).
    if (bos !== undefined && model.tokenizer.addBos) ids[0] = bos;
    sequences.push(ids);
  }
  return sequences;
}

function tensorTypeOption(flag: string, value: string): BlockDtype | 'f16' | 'f32' {
  const allowed = [...BLOCK_DTYPES, 'f16', 'f32'] as const;
  const found = allowed.find((t) => t === value.toLowerCase());
  if (found === undefined)
    throw new CliUsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
  return found;
}

/** Refuses what would overwrite the input or fail only after the whole model was quantized. */
async function checkPaths(input: string, output: string): Promise<void> {
  if (extname(output).toLowerCase() !== '.gguf') {
    throw new CliUsageError(`OUT must be a GGUF file path ending in .gguf, got '${output}'`);
  }
  const same = async (a: string, b: string) =>
    resolve(a) === resolve(b) || (await realpath(a).catch(() => a)) === (await realpath(b).catch(() => b));
  if (await same(input, output))
    throw new CliUsageError(`OUT is IN (${output}); write the quantized model to a new file`);
  const existing = await stat(output).catch(() => undefined);
  if (existing?.isDirectory()) throw new CliUsageError(`cannot write ${output}: it is a folder`);
  const folder = dirname(resolve(output));
  try {
    await access(folder, constants.W_OK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new CliUsageError(
      `cannot write ${output}: ${code === 'ENOENT' ? `no folder ${folder}` : `${folder} is not writable`}`,
    );
  }
}

/** Bytes of the input: the file, or every file of a Hugging Face folder. */
async function sourceSize(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(resolve(path, entry.name))).size;
  }
  return total;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
