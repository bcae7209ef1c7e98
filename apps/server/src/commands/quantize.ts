import { access, constants, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { openGguf, quantizeModel } from '@llm/formats/node';
import {
  BLOCK_DTYPES,
  quantMix,
  type BlockDtype,
  type QuantTypeOverrides,
} from '@llm/quant';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import type { quantizeSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';

interface WrittenTensor {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly number[];
}

/** `llm quantize IN OUT --type MIX`: round-to-nearest GGUF quantization with llama.cpp's mixes. */
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
  await checkPaths(input, output);

  const progress = progressLine(`quantizing ${input} to ${mix.name}`);
  const result = await quantizeModel(input, output, {
    mix,
    overrides,
    ...(values.tokenizer === undefined ? {} : { tokenizerPath: values.tokenizer }),
    onProgress: ({ done, total }) => progress(done, total),
  });
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
      tensors.push({ name: w.name, type: w.type, shape: [...w.shape] });
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
    process.stdout.write(`${JSON.stringify({ type: mix.name, tensors, bytes, bitsPerWeight })}\n`);
  }
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
