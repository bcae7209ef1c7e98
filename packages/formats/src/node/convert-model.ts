import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import {
  ggufTokenizerMetadata,
  llama2cTokenizerMetadata,
  llama3RopeFactors,
  llamaGgufMetadata,
  sentencePieceTokenizerMetadata,
  tokenizerVocabSize,
} from '../convert/gguf-llama-metadata.js';
import { ModelConvertError } from '../convert/model-convert-error.js';
import { permuteRopeRows } from '../convert/rope-permutation.js';
import { castTensor, floatTensor, type TensorArray } from '../convert/tensor-cast.js';
import { UnsupportedModelError } from '../errors.js';
import type { GgufFile } from '../gguf/gguf-file.js';
import type { GgufValue } from '../gguf/gguf-value.js';
import { expectedLlamaShapes, ggufWeightSource } from '../gguf/gguf-weight-source.js';
import type { GgufTensorToWrite } from '../gguf/gguf-writer.js';
import { hfTokenizerFilesFromGguf } from '../convert/hf-tokenizer-from-gguf.js';
import {
  HF_TOKENIZER_CONFIG_FILE,
  HF_TOKENIZER_JSON_FILE,
  readHfSentencePieceTokenizer,
  readOptional,
  type HfSentencePieceTokenizer,
} from '../hf/hf-tokenizer-files.js';
import type { ModelFormat } from '../model-format.js';
import type { LlamaConfig, RopeLayout, WeightSource } from '../weight-source.js';
import {
  byteLengthOf,
  elementType,
  isOneOf,
  quantize,
  WEIGHT_DTYPES,
  type GpuDtype,
  type BlockDtype,
  type WeightDtype,
} from '@llm/quant';
import { ggufValue } from '../gguf/gguf-value.js';
import { detectModelFormat, isGgufFile } from './detect-format.js';
import { directoryFolder } from './directory-folder.js';
import { restoreInputOrder } from '../quantized/int-packing.js';
import {
  openGguf,
  openHfFolder,
  openLlama2cCheckpoint,
  readLlama2cTokenizer,
  readSentencePieceModel,
  writeGguf,
  writeHfFolder,
} from './open-files.js';

export interface ConvertProgress {
  /** GGUF name of the tensor just converted. */
  readonly tensor: string;
  /** Tensors converted so far, this one included. */
  readonly done: number;
  readonly total: number;
}

export interface ConvertOptions {
  /** f32 keeps every tensor f32; f16 stores 2-D weight matrices as f16 and keeps 1-D tensors (norms, biases) f32, as llama.cpp does. */
  readonly type: GpuDtype;
  /**
   * Vocabulary for GGUF output: a llama2.c tokenizer.bin, a SentencePiece .model, or a GGUF whose
   * tokenizer.* metadata is copied. Without it a GGUF input keeps its own, and a Hugging Face folder
   * supplies its tokenizer.model (with tokenizer_config.json's settings).
   */
  readonly tokenizerPath?: string;
  /** general.name of a GGUF output; defaults to the input's file name. */
  readonly name?: string;
  /**
   * GGUF output only: the type each tensor is stored in, instead of what `type` gives it. A
   * block-quantized type is encoded with @llm/quant's codecs (ggml's reference quantizers) from the
   * tensor's f32 values. Called once per weight of the model (not rope_freqs.weight, kept f32), in
   * the order they are written, with the model's config as written.
   */
  readonly tensorType?: (
    tensor: { readonly name: string; readonly shape: readonly number[] },
    config: LlamaConfig,
  ) => WeightDtype | BlockDtype;
  /**
   * GGUF output only: blocks already encoded for a tensor (by GPTQ, say), written instead of
   * encoding its values. Rows are in the input's RoPE layout, [rows, cols] as the input holds the
   * tensor, and permuted here with the values; the type must be the one `tensorType` gives it.
   */
  readonly encodedTensor?: (name: string) => EncodedTensor | undefined;
  /** GGUF output only: general.file_type (a llama_ftype) instead of the one `type` implies. */
  readonly fileType?: number;
  readonly onProgress?: (progress: ConvertProgress) => void;
}

/** A tensor's blocks as the GGUF stores them. */
export interface EncodedTensor {
  readonly type: BlockDtype;
  readonly data: Uint8Array;
}

export interface ConvertResult {
  readonly from: ModelFormat;
  readonly to: 'gguf' | 'hf';
  /** The model as written (RoPE layout of the output). */
  readonly config: LlamaConfig;
  readonly tensorCount: number;
  /**
   * Tokenizer files written beside a Hugging Face output (tokenizer.model, tokenizer.json,
   * tokenizer_config.json); empty when the input's vocabulary has no Hugging Face form here yet
   * (a byte-level BPE GGUF), so the folder needs its tokenizer from elsewhere.
   */
  readonly tokenizerFiles: readonly string[];
}

interface OpenedInput {
  readonly format: ModelFormat;
  /** The file, or the Hugging Face folder. */
  readonly path: string;
  readonly source: WeightSource;
  /** Set for GGUF input, whose tokenizer metadata can be carried over. */
  readonly gguf?: GgufFile;
}

interface PlannedTensor {
  readonly name: string;
  readonly dtype: WeightDtype | BlockDtype;
  readonly shape: readonly number[];
  readonly produce: () => Promise<TensorArray | Uint8Array>;
}

// rope_freqs.weight: llama.cpp's per-frequency divisors for Llama 3.1 RoPE scaling.
const ropeFreqsTensor = 'rope_freqs.weight';

/**
 * Converts a model between llama2.c, GGUF and Hugging Face layouts. The input format is detected;
 * an output path ending in .gguf gets a GGUF v3 file that llama.cpp loads, any other path a
 * Hugging Face folder (config.json + model.safetensors). Q and K rows are permuted between RoPE
 * layouts as needed, so every output computes the same model as its input.
 */
export async function convertModel(
  inputPath: string,
  outputPath: string,
  options: ConvertOptions,
): Promise<ConvertResult> {
  if (options.type !== 'f32' && options.type !== 'f16') {
    throw new ModelConvertError(
      `output type ${String(options.type)} is not supported; use f32 or f16`,
      outputPath,
    );
  }
  const to = extname(outputPath).toLowerCase() === '.gguf' ? 'gguf' : 'hf';
  if (
    to === 'hf' &&
    (options.tensorType !== undefined || options.fileType !== undefined || options.encodedTensor !== undefined)
  ) {
    throw new ModelConvertError(
      'per-tensor types and quantization need GGUF output (a path ending in .gguf)',
      outputPath,
    );
  }
  if (to === 'hf') {
    const existing = await stat(outputPath).catch(() => undefined);
    if (existing !== undefined && !existing.isDirectory()) {
      throw new ModelConvertError(
        'output exists and is not a folder; name a folder, or a path ending in .gguf',
        outputPath,
      );
    }
  }
  const input = await openInput(inputPath);
  try {
    const config = input.source.config;
    if (
      config.architecture !== 'llama' &&
      config.architecture !== 'mistral' &&
      config.architecture !== 'qwen2'
    ) {
      throw new UnsupportedModelError(`architecture ${config.architecture} cannot be converted`, inputPath);
    }
    const architecture = config.architecture === 'qwen2' ? 'qwen2' : 'llama';
    // llama.cpp rotates `llama` adjacent pairs and `qwen2` halves (NEOX); Hugging Face always halves.
    const ropeLayout: RopeLayout = to === 'gguf' && architecture === 'llama' ? 'adjacent' : 'halfSplit';
    const outConfig: LlamaConfig = { ...config, architecture, ropeLayout };
    const tensors = planTensors(input, outConfig, to, options, inputPath);
    const total = tensors.length;
    let done = 0;
    const report = (name: string): void => options.onProgress?.({ tensor: name, done: ++done, total });

    let tokenizerFiles: readonly string[] = [];
    if (to === 'gguf') {
      const name = options.name ?? basename(inputPath, extname(inputPath));
      const metadata = llamaGgufMetadata(outConfig, architecture, name, options.type);
      if (options.fileType !== undefined) metadata.set('general.file_type', ggufValue.u32(options.fileType));
      // llama.cpp's GGML_QNT_VERSION: the block layouts of today's quantized types.
      if (tensors.some((t) => !isOneOf(WEIGHT_DTYPES, t.dtype))) {
        metadata.set('general.quantization_version', ggufValue.u32(2));
      }
      for (const [key, value] of await tokenizerMetadata(input, config, options.tokenizerPath, inputPath)) {
        metadata.set(key, value);
      }
      const ggufTensors: GgufTensorToWrite[] = tensors.map((t) => ({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        data: async function* () {
          yield await t.produce();
          report(t.name);
        },
      }));
      await writeGguf(outputPath, { metadata, tensors: ggufTensors });
    } else {
      if (input.source.tensors.has(ropeFreqsTensor)) {
        throw new UnsupportedModelError(
          `${ropeFreqsTensor} (Llama 3 RoPE scaling) has no Hugging Face equivalent without its original rope_scaling`,
          inputPath,
        );
      }
      const extraFiles = await hfTokenizerFiles(input, config, options.tokenizerPath, inputPath);
      tokenizerFiles = [...extraFiles.keys()];
      await writeHfFolder(outputPath, {
        config: outConfig,
        extraFiles,
        torchDtype: options.type === 'f16' ? 'float16' : 'float32',
        tensors: tensors.map((t) => ({
          name: t.name,
          dtype: t.dtype as WeightDtype,
          shape: t.shape,
          data: async () => {
            const data = (await t.produce()) as TensorArray;
            report(t.name);
            return data;
          },
        })),
      });
    }
    return { from: input.format, to, config: outConfig, tensorCount: total, tokenizerFiles };
  } finally {
    await input.source.close();
  }
}

async function openInput(path: string): Promise<OpenedInput> {
  const detected = await detectModelFormat(path);
  switch (detected.format) {
    case 'hf':
      return { format: 'hf', path: detected.path, source: await openHfFolder(detected.path) };
    case 'llama2c':
      return { format: 'llama2c', path: detected.path, source: await openLlama2cCheckpoint(detected.path) };
    case 'gguf': {
      const file = await openGguf(detected.path);
      try {
        return { format: 'gguf', path: detected.path, source: ggufWeightSource(file), gguf: file };
      } catch (error) {
        await file.close();
        throw error;
      }
    }
  }
}

function elementsOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The output tensors in a stable order, each read, re-laid-out and cast only when written. */
function planTensors(
  input: OpenedInput,
  out: LlamaConfig,
  to: 'gguf' | 'hf',
  options: ConvertOptions,
  inputPath: string,
): PlannedTensor[] {
  const { source } = input;
  const from = source.config.ropeLayout;
  const plan: PlannedTensor[] = [];
  for (const [name, shape] of expectedLlamaShapes(out)) {
    const info = source.tensors.get(name);
    if (info === undefined) throw new ModelConvertError(`the input has no tensor ${name}`, inputPath);
    // Quantizing what is already quantized compounds the error (llama-quantize refuses it too);
    // a plain conversion decodes the blocks.
    if (options.tensorType !== undefined && !isOneOf(WEIGHT_DTYPES, info.dtype)) {
      throw new ModelConvertError(
        `tensor ${name} is already quantized (${info.dtype}); quantize from an F32, F16 or BF16 model`,
        inputPath,
      );
    }
    // Norms, biases and other 1-D tensors stay f32: llama.cpp's kernels expect them so.
    const dtype =
      options.tensorType?.({ name, shape }, out) ??
      (options.type === 'f16' && shape.length >= 2 ? 'f16' : 'f32');
    const heads = /\.attn_q\.(weight|bias)$/.test(name)
      ? out.numHeads
      : /\.attn_k\.(weight|bias)$/.test(name)
        ? out.numKvHeads
        : undefined;
    plan.push({
      name,
      dtype,
      shape,
      produce: async () => {
        const encoded = options.encodedTensor?.(name);
        if (encoded !== undefined) return placeEncoded(encoded, name, dtype, shape, heads, from, out.ropeLayout, inputPath);
        const read = floatTensor(await source.read(name), info.dtype, elementsOf(shape));
        let data = read.data;
        // An act-order GPTQ layer's columns are sorted by group; the output has the model's order.
        if (info.inputOrder) data = restoreInputOrder(data as Float32Array, shape[0]!, shape[1]!, info.inputOrder);
        if (heads !== undefined) data = permuteRopeRows(data, shape, heads, from, out.ropeLayout);
        if (isOneOf(WEIGHT_DTYPES, dtype)) return castTensor(data, read.dtype, dtype);
        return quantize(dtype, castTensor(data, read.dtype, 'f32') as Float32Array);
      },
    });
  }
  // Hugging Face keeps Llama 3 scaling in config.json alone.
  if (to === 'hf') return plan;
  const ropeFreqs = source.tensors.get(ropeFreqsTensor);
  if (ropeFreqs !== undefined) {
    plan.push({
      name: ropeFreqsTensor,
      dtype: 'f32',
      shape: ropeFreqs.shape,
      produce: async () => {
        const read = floatTensor(await source.read(ropeFreqsTensor), ropeFreqs.dtype, elementsOf(ropeFreqs.shape));
        return castTensor(read.data, read.dtype, 'f32');
      },
    });
  } else if (out.ropeScaling.type === 'llama3') {
    const factors = llama3RopeFactors(out);
    plan.push({ name: ropeFreqsTensor, dtype: 'f32', shape: [factors.length], produce: async () => factors });
  }
  return plan;
}

/** Checks blocks encoded elsewhere against the plan and permutes their rows as the values would be. */
function placeEncoded(
  encoded: EncodedTensor,
  name: string,
  dtype: WeightDtype | BlockDtype,
  shape: readonly number[],
  heads: number | undefined,
  from: RopeLayout,
  to: RopeLayout,
  inputPath: string,
): Uint8Array {
  if (encoded.type !== dtype) {
    throw new ModelConvertError(`tensor ${name} was encoded as ${encoded.type}, but is written as ${dtype}`, inputPath);
  }
  const bytes = byteLengthOf(elementType(dtype), elementsOf(shape));
  if (encoded.data.length !== bytes) {
    throw new ModelConvertError(
      `tensor ${name} [${shape.join(', ')}] takes ${bytes} bytes of ${dtype}, but ${encoded.data.length} were encoded`,
      inputPath,
    );
  }
  if (heads === undefined) return encoded.data;
  const rows = shape[0] ?? 1;
  return permuteRopeRows(encoded.data, [rows, bytes / rows], heads, from, to);
}

async function tokenizerMetadata(
  input: OpenedInput,
  config: LlamaConfig,
  tokenizerPath: string | undefined,
  inputPath: string,
): Promise<Map<string, GgufValue>> {
  const found = await findTokenizer(input, config, tokenizerPath, inputPath);
  if (found === undefined) {
    throw new ModelConvertError(
      'GGUF output needs a vocabulary for llama.cpp to load it: give a tokenizer (a llama2.c tokenizer.bin, a SentencePiece .model, or a GGUF to copy it from); a Hugging Face folder supplies its own only through tokenizer.model',
      inputPath,
    );
  }
  const { metadata, from } = found;
  const count = tokenizerVocabSize(metadata);
  if (count !== config.vocabSize) {
    throw new ModelConvertError(
      `the tokenizer lists ${count} tokens but the model's embedding has ${config.vocabSize} rows`,
      from,
    );
  }
  return metadata;
}

async function findTokenizer(
  input: OpenedInput,
  config: LlamaConfig,
  tokenizerPath: string | undefined,
  inputPath: string,
): Promise<{ metadata: Map<string, GgufValue>; from: string } | undefined> {
  const fromSentencePiece = (tokenizer: HfSentencePieceTokenizer, from: string) => {
    // Fewer pieces than rows are padded (as llama.cpp pads), more cannot be represented.
    if (tokenizer.model.pieces.length > config.vocabSize) {
      throw new ModelConvertError(
        `${tokenizer.model.pieces.length} SentencePiece pieces do not fit the model's ${config.vocabSize}-row embedding`,
        from,
      );
    }
    return { metadata: sentencePieceTokenizerMetadata(tokenizer, config.vocabSize), from };
  };
  if (tokenizerPath !== undefined) {
    if (await isGgufFile(tokenizerPath)) {
      const file = await openGguf(tokenizerPath);
      try {
        return { metadata: ggufTokenizerMetadata(file), from: tokenizerPath };
      } finally {
        await file.close();
      }
    }
    if (extname(tokenizerPath) === '.model') {
      return fromSentencePiece({ model: await readSentencePieceModel(tokenizerPath) }, tokenizerPath);
    }
    const tokenizer = await readLlama2cTokenizer(tokenizerPath, { vocabSize: config.vocabSize });
    return { metadata: llama2cTokenizerMetadata(tokenizer), from: tokenizerPath };
  }
  if (input.gguf !== undefined) return { metadata: ggufTokenizerMetadata(input.gguf), from: inputPath };
  const spm =
    input.format === 'hf' ? await readHfSentencePieceTokenizer(directoryFolder(input.path)) : undefined;
  if (spm !== undefined) return fromSentencePiece(spm, input.path);
  return undefined;
}

/**
 * Tokenizer files for a Hugging Face output, so the folder carries its tokenizer: tokenizer.model
 * and tokenizer_config.json from a SentencePiece vocabulary, else a Hugging Face input's own
 * tokenizer.json and tokenizer_config.json as they are.
 */
async function hfTokenizerFiles(
  input: OpenedInput,
  config: LlamaConfig,
  tokenizerPath: string | undefined,
  inputPath: string,
): Promise<Map<string, Uint8Array>> {
  const found = await findTokenizer(input, config, tokenizerPath, inputPath);
  const files = found === undefined ? undefined : hfTokenizerFilesFromGguf(found.metadata);
  if (files !== undefined) return files;
  const copied = new Map<string, Uint8Array>();
  if (input.format !== 'hf') return copied;
  const folder = directoryFolder(input.path);
  for (const name of [HF_TOKENIZER_JSON_FILE, HF_TOKENIZER_CONFIG_FILE]) {
    const bytes = await readOptional(folder, name);
    if (bytes !== undefined) copied.set(name, bytes);
  }
  return copied;
}
