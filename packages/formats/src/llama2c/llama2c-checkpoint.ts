import { Llama2cFormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { LlamaConfig, TensorInfo, WeightSource } from '../weight-source.js';

/** The seven int32 fields that open a llama2.c checkpoint (run.c's Config). */
export interface Llama2cHeader {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly vocabSize: number;
  /** A positive vocab_size in the file means the classifier shares the token embedding. */
  readonly sharedClassifier: boolean;
  readonly seqLen: number;
}

export const llama2cHeaderBytes = 7 * 4;
// export.py's version 1+ files start with this u32 ("ak42") and a 256-byte header.
const exportMagic = 0x616b3432;
// Far above any llama2.c model (Llama 2 70B: dim 8192, 80 layers) yet small enough that sizes
// computed from them stay exact doubles.
const maxDim = 1 << 16;
const maxLayers = 1 << 10;
const maxVocab = 1 << 24;
const maxSeqLen = 1 << 24;

interface Placement {
  readonly info: TensorInfo;
  readonly offset: number;
}

/** Parses the 28-byte header and checks that its fields make a plausible model. */
export function parseLlama2cHeader(bytes: Uint8Array, path: string): Llama2cHeader {
  if (bytes.length < llama2cHeaderBytes) {
    throw new Llama2cFormatError(
      `only ${bytes.length} bytes; a llama2.c header needs ${llama2cHeaderBytes}`,
      path,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, llama2cHeaderBytes);
  if (v.getUint32(0, true) === exportMagic) {
    throw new Llama2cFormatError(
      `llama2.c export version ${v.getInt32(4, true)} (magic "ak42") is not supported; re-export it as version 0 with llama2.c's export.py`,
      path,
    );
  }
  const [dim, hiddenDim, numLayers, numHeads, numKvHeads, vocab, seqLen] = [0, 1, 2, 3, 4, 5, 6].map((i) =>
    v.getInt32(i * 4, true),
  ) as [number, number, number, number, number, number, number];
  const bad = (problem: string): never => {
    throw new Llama2cFormatError(`not a llama2.c checkpoint: ${problem}`, path);
  };
  const within = (name: string, value: number, max: number): void => {
    if (value < 1 || value > max) bad(`${name} is ${value}, expected 1..${max}`);
  };
  within('dim', dim, maxDim);
  within('hidden_dim', hiddenDim, maxDim * 8);
  within('n_layers', numLayers, maxLayers);
  within('n_heads', numHeads, dim);
  within('n_kv_heads', numKvHeads, numHeads);
  within('|vocab_size|', Math.abs(vocab), maxVocab);
  within('seq_len', seqLen, maxSeqLen);
  if (dim % numHeads !== 0) bad(`dim ${dim} is not a multiple of n_heads ${numHeads}`);
  if (numHeads % numKvHeads !== 0) bad(`n_heads ${numHeads} is not a multiple of n_kv_heads ${numKvHeads}`);
  if ((dim / numHeads) % 2 !== 0) bad(`head dimension ${dim / numHeads} is odd; RoPE rotates pairs`);
  return {
    dim,
    hiddenDim,
    numLayers,
    numHeads,
    numKvHeads,
    vocabSize: Math.abs(vocab),
    sharedClassifier: vocab > 0,
    seqLen,
  };
}

/**
 * Where each tensor lies in the file, in run.c's order (memory_map_weights), under GGUF names;
 * and the file size the header implies.
 */
export function llama2cLayout(header: Llama2cHeader): { placements: Placement[]; fileBytes: number } {
  const { dim, hiddenDim, numLayers, numHeads, numKvHeads, vocabSize, seqLen } = header;
  const headDim = dim / numHeads;
  const qDim = numHeads * headDim;
  const kvDim = numKvHeads * headDim;
  const placements: Placement[] = [];
  let offset = llama2cHeaderBytes;
  const place = (name: string, shape: readonly number[]): void => {
    const byteLength = shape.reduce((a, b) => a * b, 4);
    placements.push({ info: { name, dtype: 'f32', shape, byteLength }, offset });
    offset += byteLength;
  };
  const perLayer = (suffix: string, shape: readonly number[]): void => {
    for (let l = 0; l < numLayers; l++) place(`blk.${l}.${suffix}`, shape);
  };
  place('token_embd.weight', [vocabSize, dim]);
  perLayer('attn_norm.weight', [dim]);
  perLayer('attn_q.weight', [qDim, dim]);
  perLayer('attn_k.weight', [kvDim, dim]);
  perLayer('attn_v.weight', [kvDim, dim]);
  perLayer('attn_output.weight', [dim, qDim]);
  perLayer('ffn_norm.weight', [dim]);
  perLayer('ffn_gate.weight', [hiddenDim, dim]);
  perLayer('ffn_down.weight', [dim, hiddenDim]);
  perLayer('ffn_up.weight', [hiddenDim, dim]);
  place('output_norm.weight', [dim]);
  // freq_cis_real and freq_cis_imag: RoPE tables from early exports, recomputed by every runtime.
  offset += 2 * seqLen * (headDim / 2) * 4;
  if (!header.sharedClassifier) place('output.weight', [vocabSize, dim]);
  return { placements, fileBytes: offset };
}

/** The LlamaConfig run.c implies for a header: adjacent-pair RoPE with theta 10000, eps 1e-5. */
export function llama2cConfig(header: Llama2cHeader): LlamaConfig {
  return {
    architecture: 'llama',
    vocabSize: header.vocabSize,
    dim: header.dim,
    hiddenDim: header.hiddenDim,
    numLayers: header.numLayers,
    numHeads: header.numHeads,
    numKvHeads: header.numKvHeads,
    headDim: header.dim / header.numHeads,
    contextLength: header.seqLen,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeLayout: 'adjacent',
    ropeScaling: { type: 'none', factor: 1 },
    tiedEmbeddings: header.sharedClassifier,
    qkvBias: false,
  };
}

export interface Llama2cCheckpoint extends WeightSource {
  readonly header: Llama2cHeader;
}

async function readExactly(source: ByteSource, position: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(position, length);
  if (bytes.byteLength < length) {
    throw new Llama2cFormatError(`file ends at byte ${position + bytes.byteLength}`, source.name);
  }
  return bytes;
}

/**
 * Opens a llama2.c (legacy, version 0) checkpoint as a WeightSource with GGUF tensor names. The
 * file size must match the header exactly, which catches most files that are something else.
 */
export async function openLlama2cCheckpointSource(source: ByteSource): Promise<Llama2cCheckpoint> {
  const path = source.name;
  try {
    const fileSize = source.size;
    const headerBytes = await readExactly(source, 0, Math.min(llama2cHeaderBytes, fileSize));
    const header = parseLlama2cHeader(headerBytes, path);
    const { placements, fileBytes } = llama2cLayout(header);
    if (fileBytes !== fileSize) {
      throw new Llama2cFormatError(
        `file has ${fileSize} bytes but its header (dim ${header.dim}, hidden ${header.hiddenDim}, ` +
          `${header.numLayers} layers, ${header.numHeads}/${header.numKvHeads} heads, vocab ${header.vocabSize}, ` +
          `seq_len ${header.seqLen}, ${header.sharedClassifier ? 'shared' : 'separate'} classifier) implies ${fileBytes}`,
        path,
      );
    }
    const byName = new Map(placements.map((p) => [p.info.name, p]));
    let closed = false;
    return {
      header,
      config: llama2cConfig(header),
      tensors: new Map(placements.map((p) => [p.info.name, p.info])),
      async read(name) {
        const p = byName.get(name);
        if (p === undefined) throw new Llama2cFormatError(`no tensor named ${name} in the checkpoint`, path);
        if (closed) throw new Llama2cFormatError(`checkpoint is closed; cannot read tensor ${name}`, path);
        const read = await readExactly(source, p.offset, p.info.byteLength);
        const bytes = read.byteOffset % 4 === 0 ? read : read.slice();
        return new Float32Array(bytes.buffer, bytes.byteOffset, p.info.byteLength / 4);
      },
      async close() {
        if (closed) return;
        closed = true;
        await source.close();
      },
    };
  } catch (error) {
    await source.close();
    throw error;
  }
}
