import { elementType, quantize, type BlockDtype, type GpuDtype } from '@llm/quant';
import { GgufFormatError } from '../errors.js';
import { ggufValue, type GgufValue } from '../gguf/gguf-value.js';
import type { ByteSink } from '../io/byte-sink.js';
import { writeGgufTo, type GgufTensorToWrite, type TensorChunk } from '../gguf/gguf-writer.js';
import { SeededRandom } from './seeded-random.js';
import { f32ArrayToF16 } from '@llm/quant';
import type { LlamaConfig, RopeLayout } from '../weight-source.js';
import { normalTable } from './normal-table.js';

export interface SyntheticLlamaShape {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Defaults to dim / numHeads; written as key_length/value_length when heads * headDim != dim. */
  readonly headDim?: number;
  readonly vocabSize: number;
  readonly contextLength: number;
}

/** Shapes of well-known models, with random weights. */
export const syntheticLlamaPresets = {
  /** Fast enough for any unit test: about 0.2 M parameters. */
  tiny: { dim: 64, hiddenDim: 172, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 512, contextLength: 256 },
  /** The shape of llama2.c's stories110M. */
  llama110m: {
    dim: 768,
    hiddenDim: 2048,
    numLayers: 12,
    numHeads: 12,
    numKvHeads: 12,
    vocabSize: 32000,
    contextLength: 2048,
  },
  /** The shape of TinyLlama 1.1B. */
  llama1b: {
    dim: 2048,
    hiddenDim: 5632,
    numLayers: 22,
    numHeads: 32,
    numKvHeads: 4,
    vocabSize: 32000,
    contextLength: 2048,
  },
} as const satisfies Record<string, SyntheticLlamaShape>;

export type SyntheticLlamaPreset = keyof typeof syntheticLlamaPresets;

/**
 * Architectures the generator writes, with what llama.cpp does differently for each: llama rotates
 * adjacent pairs; qwen2 adds biases to Q, K and V and rotates half-split pairs (NEOX RoPE).
 */
export type SyntheticArchitecture = 'llama' | 'qwen2';

const ropeLayouts: Readonly<Record<SyntheticArchitecture, RopeLayout>> = {
  llama: 'adjacent',
  qwen2: 'halfSplit',
};

/**
 * Llama 3.1's frequency-dependent RoPE scaling, as its Hugging Face config spells it
 * (`rope_scaling.rope_type = "llama3"`). llama.cpp's converter bakes it into a `rope_freqs.weight`
 * tensor of per-frequency divisors, which is what the generator writes.
 */
export interface Llama3RopeFactors {
  /** Divisor of the lowest frequencies. */
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  /** Context the frequencies were trained for: wavelengths are measured against it. */
  readonly originalContextLength: number;
}

/** Llama 3.1's own values (config.json of Llama-3.1-8B). */
export const llama31RopeFactors: Llama3RopeFactors = {
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalContextLength: 8192,
};

/**
 * The `rope_freqs.weight` values of llama.cpp's Llama 3.1 converter: 1 for wavelengths shorter than
 * originalContextLength / highFreqFactor, `factor` for those longer than
 * originalContextLength / lowFreqFactor, and a smooth blend between.
 */
export function llama3RopeFreqFactors(
  headDim: number,
  ropeTheta: number,
  s: Llama3RopeFactors,
): Float32Array {
  const lowFreqWavelength = s.originalContextLength / s.lowFreqFactor;
  const highFreqWavelength = s.originalContextLength / s.highFreqFactor;
  return Float32Array.from({ length: headDim / 2 }, (_, i) => {
    const wavelength = 2 * Math.PI * ropeTheta ** ((2 * i) / headDim);
    if (wavelength < highFreqWavelength) return 1;
    if (wavelength > lowFreqWavelength) return s.factor;
    const smooth =
      (s.originalContextLength / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}

export interface SyntheticLlamaOptions extends Partial<SyntheticLlamaShape> {
  /** Shape to start from (default `tiny`); explicit shape fields override it. */
  readonly preset?: SyntheticLlamaPreset;
  readonly seed?: number;
  /** Storage type of the matrices; norms are always F32, as llama.cpp's converters write them. */
  readonly dtype?: GpuDtype;
  readonly tiedEmbeddings?: boolean;
  /**
   * Block-quantizes the matrices with @llm/quant's codecs (ggml's reference quantizers) after
   * drawing them as f32: `matrices` for every matrix, `output` / `tokenEmbedding` for those two
   * (Q4_K_M-like: `{ matrices: 'q4_k', output: 'q6_k' }`). A matrix whose rows are not whole
   * blocks of its type keeps `dtype`.
   */
  readonly quantize?: SyntheticQuantization;
  /** Default `llama`. qwen2 needs numHeads * headDim = dim, as llama.cpp's qwen2 loader does. */
  readonly architecture?: SyntheticArchitecture;
  readonly ropeTheta?: number;
  /** Linear RoPE scaling: llama.cpp multiplies positions by 1 / factor. */
  readonly ropeScaling?: { readonly type: 'linear'; readonly factor: number };
  /** Writes Llama 3.1-style `rope_freqs.weight` divisors (llama only: llama.cpp's qwen2 has none). */
  readonly ropeFreqFactors?: Llama3RopeFactors;
  readonly rmsNormEps?: number;
  /**
   * Progress reporting: a callback, `true` for lines on stderr, `false` for none. Default: lines
   * on stderr for files of 256 MiB and more.
   */
  readonly progress?: boolean | ((bytesWritten: number, totalBytes: number) => void);
}

export interface SyntheticQuantization {
  readonly matrices: BlockDtype;
  readonly output?: BlockDtype;
  readonly tokenEmbedding?: BlockDtype;
  /** Types by tensor-name suffix (`attn_v.weight`, `blk.1.ffn_down.weight`), before the rest. */
  readonly overrides?: Readonly<Record<string, BlockDtype>>;
  /**
   * Instead of quantizing every drawn value, quantizes a pool of this many blocks per type and
   * weight scale (drawn from the same distribution) and fills each matrix with blocks copied from
   * it at random: valid blocks of the same statistics, written at memory speed rather than at the
   * reference quantizers' few million values per second (the K-quants of a 1.1B model take tens
   * of minutes). For speed benchmarks, whose timings do not depend on the values; the weights are
   * no longer the f32 file's draws quantized.
   */
  readonly blockPool?: number;
}

// llama_ftype of a file whose matrices are mostly `type` (general.file_type is informative).
const fileTypes: Partial<Record<BlockDtype, number>> = {
  q4_0: 2,
  q4_1: 3,
  q8_0: 7,
  q5_0: 8,
  q5_1: 9,
  q2_k: 10,
  q3_k: 12,
  q4_k: 15,
  q5_k: 17,
  q6_k: 18,
};

export interface SyntheticLlamaResult {
  readonly path: string;
  readonly bytes: number;
  readonly config: LlamaConfig;
}

// Elements generated per chunk handed to the writer.
const chunkElements = 1 << 20;
const progressThresholdBytes = 256 << 20;

/**
 * The tokenizer of every synthetic model: SentencePiece-style (`tokenizer.ggml.model = llama`) with
 * <unk> <s> </s>, the 256 byte-fallback tokens, then "▁", letters and letter strings with and
 * without a leading "▁", in that order, up to vocabSize. Scores fall with the id so longer pieces
 * merge after the letters they are made of.
 */
export function syntheticVocabulary(vocabSize: number): {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
} {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3]; // unknown, control, control
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6); // byte
  }
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const fillers = function* (): Generator<string> {
    yield '▁';
    let words = [''];
    for (;;) {
      words = words.flatMap((w) => [...letters].map((l) => w + l));
      for (const w of words) yield w;
      for (const w of words) yield `▁${w}`;
    }
  };
  for (const piece of fillers()) {
    if (tokens.length >= vocabSize) break;
    tokens.push(piece);
    types.push(1); // normal
  }
  const scores = Float32Array.from(tokens, (_, id) => (types[id] === 1 ? -(id - 259) : 0));
  return { tokens, scores, types: Int32Array.from(types) };
}

function stderrProgress(label: string): (written: number, total: number) => void {
  let lastPrinted = 0;
  const started = performance.now();
  return (written, total) => {
    const now = performance.now();
    if (written < total && now - lastPrinted < 1000) return;
    lastPrinted = now;
    const gb = (n: number): string => (n / 1e9).toFixed(2);
    const seconds = ((now - started) / 1000).toFixed(1);
    console.error(
      `${label}: ${Math.floor((100 * written) / total)}% (${gb(written)} of ${gb(total)} GB, ${seconds} s)`,
    );
  };
}

/**
 * Writes a deterministic random-weight Llama-family GGUF that llama.cpp loads: all `{arch}.*` keys,
 * a SentencePiece vocabulary (llama.cpp picks the tokenizer by tokenizer.ggml.model, not by
 * architecture), F32 norms and biases and F32 or F16 matrices, streamed to disk. Variants: qwen2
 * (Q/K/V biases, NEOX RoPE), Llama 3.1 RoPE frequency factors, linear RoPE scaling.
 *
 * Weight scales keep activations well conditioned at any width and depth: inputs to every
 * projection are RMS-normalised, so Q/K/V/gate/up use std 1/sqrt(fan_in) (outputs of unit scale,
 * attention scores of unit std); embeddings use 6/sqrt(dim), so logits (normalised hidden state
 * times an embedding row) have std about 6 and the greedy winner over a 32000-token vocabulary
 * leads the runner-up by about 1.3 on average; the residual branches (attn_output, ffn_down) add
 * about a third of an embedding row's RMS each, so the current token still steers the output
 * after 20+ layers.
 */
export async function writeSyntheticLlamaGgufTo(
  sink: ByteSink,
  options: SyntheticLlamaOptions = {},
): Promise<SyntheticLlamaResult> {
  const preset = syntheticLlamaPresets[options.preset ?? 'tiny'];
  const shape: Required<SyntheticLlamaShape> = {
    dim: options.dim ?? preset.dim,
    hiddenDim: options.hiddenDim ?? preset.hiddenDim,
    numLayers: options.numLayers ?? preset.numLayers,
    numHeads: options.numHeads ?? preset.numHeads,
    numKvHeads: options.numKvHeads ?? preset.numKvHeads,
    headDim: options.headDim ?? (options.dim ?? preset.dim) / (options.numHeads ?? preset.numHeads),
    vocabSize: options.vocabSize ?? preset.vocabSize,
    contextLength: options.contextLength ?? preset.contextLength,
  };
  const { dim, hiddenDim, numLayers, numHeads, numKvHeads, headDim, vocabSize, contextLength } = shape;
  const invalid = (problem: string): never => {
    throw new GgufFormatError(`cannot write synthetic model: ${problem}`, sink.name);
  };
  for (const [name, value] of Object.entries(shape)) {
    if (!Number.isSafeInteger(value) || value < 1)
      invalid(`${name} is ${value}; it must be a positive integer`);
  }
  if (numHeads % numKvHeads !== 0) invalid(`${numHeads} heads cannot share ${numKvHeads} KV heads evenly`);
  if (headDim % 2 !== 0) invalid(`head dimension ${headDim} is odd; RoPE rotates pairs`);
  if (vocabSize < 260) invalid(`vocabSize ${vocabSize} leaves no room beside 3 special and 256 byte tokens`);

  const seed = options.seed ?? 0;
  const dtype = options.dtype ?? 'f32';
  const tied = options.tiedEmbeddings ?? false;
  const ropeTheta = options.ropeTheta ?? 10000;
  const rmsNormEps = options.rmsNormEps ?? 1e-5;
  const arch = options.architecture ?? 'llama';
  const qkvBias = arch === 'qwen2';
  const linearFactor = options.ropeScaling?.factor;
  const freqFactors = options.ropeFreqFactors;
  const qDim = numHeads * headDim;
  const kvDim = numKvHeads * headDim;
  if (!Object.hasOwn(ropeLayouts, arch))
    invalid(`architecture ${arch} is not one of ${Object.keys(ropeLayouts).join(', ')}`);
  // llama.cpp's qwen2 loader shapes attn_q as [dim, dim] and its bias as [dim].
  if (arch === 'qwen2' && qDim !== dim) invalid(`qwen2 needs numHeads * headDim (${qDim}) = dim (${dim})`);
  if (linearFactor !== undefined && !(linearFactor > 0 && Number.isFinite(linearFactor)))
    invalid(`linear RoPE scaling factor ${linearFactor} must be a positive number`);
  if (freqFactors !== undefined) {
    if (arch !== 'llama')
      invalid(`RoPE frequency factors are a llama tensor; llama.cpp's ${arch} loads none`);
    const { factor, lowFreqFactor, highFreqFactor, originalContextLength } = freqFactors;
    if (
      ![factor, lowFreqFactor, highFreqFactor, originalContextLength].every(
        (v) => v > 0 && Number.isFinite(v),
      )
    )
      invalid('RoPE frequency factors must be positive numbers');
    if (!(highFreqFactor > lowFreqFactor))
      invalid(`highFreqFactor ${highFreqFactor} must exceed lowFreqFactor ${lowFreqFactor}`);
  }

  const tables = new Map<number, Float32Array | Uint16Array>();
  const tableFor = (std: number): Float32Array | Uint16Array => {
    let table = tables.get(std);
    if (table === undefined) {
      const values = normalTable(std);
      table = dtype === 'f16' ? f32ArrayToF16(values) : values;
      tables.set(std, table);
    }
    return table;
  };

  const f32Tables = new Map<number, Float32Array>();
  const f32TableFor = (std: number): Float32Array => {
    let table = f32Tables.get(std);
    if (table === undefined) f32Tables.set(std, (table = normalTable(std)));
    return table;
  };

  const tensors: GgufTensorToWrite[] = [];
  // Each tensor draws from its own stream, so its values do not depend on chunking or order.
  const streamFor = (): SeededRandom =>
    new SeededRandom((Math.imul(seed, 0x9e3779b1) + tensors.length * 0x632be5ab) >>> 0);
  const blockTypeOf = (name: string, cols: number): BlockDtype | undefined => {
    const q = options.quantize;
    const override = Object.entries(q?.overrides ?? {}).find(([suffix]) => name.endsWith(suffix))?.[1];
    const type =
      override !== undefined
        ? override
        : name === 'output.weight'
        ? (q?.output ?? q?.matrices)
        : name === 'token_embd.weight'
          ? (q?.tokenEmbedding ?? q?.matrices)
          : q?.matrices;
    return type !== undefined && cols % elementType(type).blockSize === 0 ? type : undefined;
  };
  const pools = new Map<string, Uint8Array>();
  const poolFor = (block: BlockDtype, std: number, blocks: number): Uint8Array => {
    const key = `${block}:${std}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      // Pools draw from streams of their own, numbered in order of first use (fixed by the shape).
      const random = new SeededRandom((Math.imul(seed, 0x85ebca6b) + (pools.size + 1) * 0xc2b2ae35) >>> 0);
      const values = new Float32Array(blocks * elementType(block).blockSize);
      random.fillFromTable(values, f32TableFor(std));
      pools.set(key, (pool = quantize(block, values)));
    }
    return pool;
  };
  const matrix = (name: string, rows: number, cols: number, std: number): void => {
    const random = streamFor();
    const total = rows * cols;
    const block = blockTypeOf(name, cols);
    const poolBlocks = options.quantize?.blockPool;
    if (block !== undefined && poolBlocks !== undefined) {
      if (!Number.isSafeInteger(poolBlocks) || poolBlocks < 1)
        invalid(`blockPool ${poolBlocks} must be a positive integer`);
      const { blockSize, bytesPerBlock } = elementType(block);
      const pool = poolFor(block, std, poolBlocks);
      const perChunk = Math.max(1, Math.floor(chunkElements / cols)) * cols;
      tensors.push({
        name,
        dtype: block,
        shape: [rows, cols],
        data: function* (): Generator<TensorChunk> {
          const buffer = new Uint8Array((Math.min(perChunk, total) / blockSize) * bytesPerBlock);
          for (let done = 0; done < total; done += perChunk) {
            const blocks = Math.min(perChunk, total - done) / blockSize;
            for (let b = 0; b < blocks; b++) {
              const from = (random.nextU32() % poolBlocks) * bytesPerBlock;
              buffer.set(pool.subarray(from, from + bytesPerBlock), b * bytesPerBlock);
            }
            yield buffer.subarray(0, blocks * bytesPerBlock);
          }
        },
      });
      return;
    }
    if (block !== undefined) {
      // The same f32 draws as an f32 file, quantized chunk by chunk (chunks are whole rows of whole blocks).
      const values = f32TableFor(std);
      const perChunk = Math.max(1, Math.floor(chunkElements / cols)) * cols;
      tensors.push({
        name,
        dtype: block,
        shape: [rows, cols],
        data: function* (): Generator<TensorChunk> {
          const buffer = new Float32Array(Math.min(perChunk, total));
          for (let done = 0; done < total; done += buffer.length) {
            const chunk = buffer.subarray(0, Math.min(buffer.length, total - done));
            random.fillFromTable(chunk, values);
            yield quantize(block, chunk);
          }
        },
      });
      return;
    }
    const table = tableFor(std);
    tensors.push({
      name,
      dtype,
      shape: [rows, cols],
      data: function* (): Generator<TensorChunk> {
        // One buffer serves every chunk: the writer copies or writes each chunk before asking for the next.
        const buffer =
          dtype === 'f16'
            ? new Uint16Array(Math.min(chunkElements, total))
            : new Float32Array(Math.min(chunkElements, total));
        for (let done = 0; done < total; done += buffer.length) {
          const chunk = buffer.subarray(0, Math.min(buffer.length, total - done));
          random.fillFromTable(chunk, table);
          yield chunk;
        }
      },
    });
  };
  const norm = (name: string, randomSigns = false): void => {
    const random = streamFor();
    // Near 1 with a little noise, so a kernel that ignores the weight is caught.
    const data = Float32Array.from({ length: dim }, () => {
      const magnitude = 1 + 0.02 * random.nextNormal();
      return randomSigns && random.nextU32() & 1 ? -magnitude : magnitude;
    });
    tensors.push({ name, dtype: 'f32', shape: [dim], data });
  };
  // Biases stay F32 like norms (1-D tensors).
  const bias = (name: string, length: number, std: number): void => {
    const random = streamFor();
    tensors.push({
      name,
      dtype: 'f32',
      shape: [length],
      data: Float32Array.from({ length }, () => std * random.nextNormal()),
    });
  };

  const embeddingStd = 6 / Math.sqrt(dim);
  // Branch inputs (attention mix, SiLU(gate) * up) have RMS near 0.5, so each branch adds about a
  // third of an embedding row's RMS.
  const branchStd = (fanIn: number): number => (0.67 * embeddingStd) / Math.sqrt(fanIn);
  matrix('token_embd.weight', vocabSize, dim, embeddingStd);
  // With a shared embedding the residual stream still holds the current token's own row, and
  // norm(x) . row (about sqrt(dim) * 6) would beat every other logit: the model would echo its
  // input. Random signs on the final norm decorrelate that term without changing any scale.
  norm('output_norm.weight', tied);
  if (!tied) matrix('output.weight', vocabSize, dim, embeddingStd);
  for (let l = 0; l < numLayers; l++) {
    const b = `blk.${l}.`;
    norm(`${b}attn_norm.weight`);
    matrix(`${b}attn_q.weight`, qDim, dim, 1 / Math.sqrt(dim));
    matrix(`${b}attn_k.weight`, kvDim, dim, 1 / Math.sqrt(dim));
    matrix(`${b}attn_v.weight`, kvDim, dim, 1 / Math.sqrt(dim));
    if (qkvBias) {
      // Half the std of a projected element: large enough that a runner dropping a bias, or
      // rotating it with the wrong pairing, moves the logits far past any tolerance.
      bias(`${b}attn_q.bias`, qDim, 0.5);
      bias(`${b}attn_k.bias`, kvDim, 0.5);
      bias(`${b}attn_v.bias`, kvDim, 0.5);
    }
    matrix(`${b}attn_output.weight`, dim, qDim, branchStd(qDim));
    norm(`${b}ffn_norm.weight`);
    matrix(`${b}ffn_gate.weight`, hiddenDim, dim, 1 / Math.sqrt(dim));
    matrix(`${b}ffn_up.weight`, hiddenDim, dim, 1 / Math.sqrt(dim));
    matrix(`${b}ffn_down.weight`, dim, hiddenDim, branchStd(hiddenDim));
  }
  // Last, so the random tensors keep the streams they have without it.
  if (freqFactors !== undefined) {
    const data = llama3RopeFreqFactors(headDim, ropeTheta, freqFactors);
    tensors.push({ name: 'rope_freqs.weight', dtype: 'f32', shape: [headDim / 2], data });
  }

  const vocab = syntheticVocabulary(vocabSize);
  const metadata: Record<string, GgufValue> = {
    'general.architecture': ggufValue.string(arch),
    'general.name': ggufValue.string(`synthetic-${arch}-${dim}x${numLayers}-seed${seed}`),
    // llama_ftype: 0 = all F32, 1 = mostly F16 (1-D tensors stay F32).
    'general.file_type': ggufValue.u32(
      options.quantize ? (fileTypes[options.quantize.matrices] ?? 0) : dtype === 'f16' ? 1 : 0,
    ),
    [`${arch}.vocab_size`]: ggufValue.u32(vocabSize),
    [`${arch}.context_length`]: ggufValue.u32(contextLength),
    [`${arch}.embedding_length`]: ggufValue.u32(dim),
    [`${arch}.block_count`]: ggufValue.u32(numLayers),
    [`${arch}.feed_forward_length`]: ggufValue.u32(hiddenDim),
    [`${arch}.attention.head_count`]: ggufValue.u32(numHeads),
    [`${arch}.attention.head_count_kv`]: ggufValue.u32(numKvHeads),
    [`${arch}.attention.layer_norm_rms_epsilon`]: ggufValue.f32(rmsNormEps),
    [`${arch}.rope.freq_base`]: ggufValue.f32(ropeTheta),
    [`${arch}.rope.dimension_count`]: ggufValue.u32(headDim),
    ...(qDim === dim
      ? {}
      : {
          [`${arch}.attention.key_length`]: ggufValue.u32(headDim),
          [`${arch}.attention.value_length`]: ggufValue.u32(headDim),
        }),
    ...(linearFactor === undefined
      ? {}
      : {
          [`${arch}.rope.scaling.type`]: ggufValue.string('linear'),
          [`${arch}.rope.scaling.factor`]: ggufValue.f32(linearFactor),
        }),
    'tokenizer.ggml.model': ggufValue.string('llama'),
    'tokenizer.ggml.tokens': ggufValue.stringArray(vocab.tokens),
    'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', value: vocab.scores },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: vocab.types },
    'tokenizer.ggml.unknown_token_id': ggufValue.u32(0),
    'tokenizer.ggml.bos_token_id': ggufValue.u32(1),
    'tokenizer.ggml.eos_token_id': ggufValue.u32(2),
    'tokenizer.ggml.add_bos_token': ggufValue.bool(true),
    'tokenizer.ggml.add_eos_token': ggufValue.bool(false),
  };

  const elementBytes = dtype === 'f16' ? 2 : 4;
  const approxBytes =
    elementBytes *
    (vocabSize * dim * (tied ? 1 : 2) + numLayers * dim * (2 * qDim + 2 * kvDim + 3 * hiddenDim));
  const progress = options.progress ?? approxBytes >= progressThresholdBytes;
  const onProgress =
    typeof progress === 'function'
      ? progress
      : progress
        ? stderrProgress(`synthetic llama ${dim}x${numLayers} ${options.quantize?.matrices ?? dtype}`)
        : undefined;
  const { bytes } = await writeGgufTo(sink, { metadata, tensors, ...(onProgress ? { onProgress } : {}) });

  return {
    path: sink.name,
    bytes,
    config: {
      architecture: arch,
      vocabSize,
      dim,
      hiddenDim,
      numLayers,
      numHeads,
      numKvHeads,
      headDim,
      contextLength,
      rmsNormEps: Math.fround(rmsNormEps),
      ropeTheta: Math.fround(ropeTheta),
      ropeLayout: ropeLayouts[arch],
      ropeScaling:
        linearFactor === undefined
          ? { type: 'none', factor: 1 }
          : { type: 'linear', factor: Math.fround(linearFactor) },
      tiedEmbeddings: tied,
      qkvBias,
    },
  };
}
