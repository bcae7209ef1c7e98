import { LlmError } from '@llm/quant';
import type { ModelRunner } from './model-runner.js';

/**
 * One step's work for the model: the new tokens of each scheduled sequence, where they start in
 * the sequence, and the sequence's block table. Everything else the kernels need (positions,
 * KV slots, packed offsets) is derived here, so callers never hand-build GPU layouts.
 */
export interface SequenceChunk {
  /** Token ids to run this step (a prefill chunk, or one decode token). */
  readonly tokens: readonly number[];
  /** Tokens of this sequence already in the KV cache: the position of tokens[0]. */
  readonly startPos: number;
  /** Physical KV block of each logical block; must cover startPos + tokens.length positions. */
  readonly blockTable: readonly number[];
  /**
   * Whether the tokens come from the prompt (or its recomputation) rather than from sampling.
   * Prompt tokens go through the prefill attention kernel and generated tokens through the decode
   * kernel, whatever else shares the step, so a token's result never depends on the batch.
   * Default: true for several tokens, false for one.
   */
  readonly prefill?: boolean;
}

export interface PackedBatch {
  readonly numTokens: number;
  readonly numSeqs: number;
  /** Sequences [0, numDecodeSeqs) are single generated tokens (decodes); the rest are prefill chunks. */
  readonly numDecodeSeqs: number;
  /** Packed sequence s holds chunk order[s]: decodes are packed first, each group in chunk order. */
  readonly order: Uint32Array;

  readonly tokenIds: Uint32Array;
  readonly positions: Uint32Array;
  /** physicalBlock * blockSize + offset of each token's K/V. */
  readonly slots: Uint32Array;
  readonly queryStarts: Uint32Array;
  readonly contextLens: Uint32Array;
  readonly tokenSeqIds: Uint32Array;
  /** Packed row of each chunk's last token, in chunk order (not packed order). */
  readonly lastRows: Uint32Array;
  /** Row-major [numSeqs, maxBlocksPerSeq], unused entries 0. */
  readonly blockTables: Uint32Array;
  readonly maxBlocksPerSeq: number;
  readonly maxContextLen: number;
}

export class BatchShapeError extends LlmError {
  override readonly name = 'BatchShapeError';
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

export function packBatch(chunks: readonly SequenceChunk[], blockSize: number): PackedBatch {
  if (chunks.length === 0) throw new BatchShapeError('a step needs at least one sequence');
  let numTokens = 0;
  let maxBlocksPerSeq = 1;
  let maxContextLen = 0;
  const decodes: number[] = [];
  const prefills: number[] = [];
  for (const [s, c] of chunks.entries()) {
    if (c.tokens.length === 0) throw new BatchShapeError(`sequence ${s} has no tokens to run`);
    const prefill = c.prefill ?? c.tokens.length > 1;
    if (!prefill && c.tokens.length !== 1) {
      throw new BatchShapeError(`sequence ${s} is a decode (prefill: false) but brings ${c.tokens.length} tokens`);
    }
    (prefill ? prefills : decodes).push(s);
    const end = c.startPos + c.tokens.length;
    const needed = Math.ceil(end / blockSize);
    if (c.blockTable.length < needed) {
      throw new BatchShapeError(
        `sequence ${s} reaches position ${end - 1} but its block table holds ${c.blockTable.length} ` +
          `blocks of ${blockSize} tokens`,
      );
    }
    numTokens += c.tokens.length;
    maxBlocksPerSeq = Math.max(maxBlocksPerSeq, needed);
    maxContextLen = Math.max(maxContextLen, end);
  }
  const numSeqs = chunks.length;
  const order = Uint32Array.from([...decodes, ...prefills]);
  const tokenIds = new Uint32Array(numTokens);
  const positions = new Uint32Array(numTokens);
  const slots = new Uint32Array(numTokens);
  const tokenSeqIds = new Uint32Array(numTokens);
  const queryStarts = new Uint32Array(numSeqs + 1);
  const contextLens = new Uint32Array(numSeqs);
  const lastRows = new Uint32Array(numSeqs);
  const blockTables = new Uint32Array(numSeqs * maxBlocksPerSeq);
  let t = 0;
  for (const [s, index] of order.entries()) {
    const c = chunks[index]!;
    queryStarts[s] = t;
    const end = c.startPos + c.tokens.length;
    contextLens[s] = end;
    for (let b = 0; b < Math.ceil(end / blockSize); b++) blockTables[s * maxBlocksPerSeq + b] = c.blockTable[b]!;
    for (let i = 0; i < c.tokens.length; i++, t++) {
      const pos = c.startPos + i;
      tokenIds[t] = c.tokens[i]!;
      positions[t] = pos;
      slots[t] = c.blockTable[Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
      tokenSeqIds[t] = s;
    }
    lastRows[index] = t - 1;
  }
  queryStarts[numSeqs] = t;
  return {
    numTokens,
    numSeqs,
    numDecodeSeqs: decodes.length,
    order,
    tokenIds,
    positions,
    slots,
    queryStarts,
    contextLens,
    tokenSeqIds,
    lastRows,
    blockTables,
    maxBlocksPerSeq,
    maxContextLen,
  };
}

/** What a runner can take in one step. */
export type StepLimits = Pick<ModelRunner, 'blockSize' | 'numBlocks' | 'maxStepTokens' | 'maxSeqs' | 'config'>;

/**
 * packBatch, refusing what does not fit the runner: too many tokens or sequences, a sequence past
 * the model's context, unknown ids or blocks.
 */
export function packBatchWithin(chunks: readonly SequenceChunk[], limits: StepLimits): PackedBatch {
  const batch = packBatch(chunks, limits.blockSize);
  if (batch.maxContextLen > limits.config.contextLength) {
    throw new BatchShapeError(
      `a sequence reaches ${batch.maxContextLen} tokens, past the model's context of ${limits.config.contextLength}`,
    );
  }
  if (batch.numTokens > limits.maxStepTokens) {
    throw new BatchShapeError(`a step of ${batch.numTokens} tokens exceeds maxStepTokens ${limits.maxStepTokens}`);
  }
  if (batch.numSeqs > limits.maxSeqs) {
    throw new BatchShapeError(`a step of ${batch.numSeqs} sequences exceeds maxSeqs ${limits.maxSeqs}`);
  }
  for (const id of batch.tokenIds) {
    if (id >= limits.config.vocabSize) {
      throw new BatchShapeError(`token id ${id} is outside the vocabulary of ${limits.config.vocabSize}`);
    }
  }
  for (const b of batch.blockTables) {
    if (b >= limits.numBlocks) throw new BatchShapeError(`a block table names KV block ${b}; the pool has ${limits.numBlocks}`);
  }
  return batch;
}

/** Refuses a sample that names no chunk of the step. */
export function checkSampleChunks(samples: readonly { readonly chunk: number }[], numChunks: number): void {
  for (const [i, r] of samples.entries()) {
    if (!Number.isInteger(r.chunk) || r.chunk < 0 || r.chunk >= numChunks) {
      throw new BatchShapeError(`sample ${i} names chunk ${r.chunk}; the step has ${numChunks}`);
    }
  }
}

/** The samples of a step that the next one can take as input: indices first..count-1. */
export interface KeptSamples {
  readonly first: number;
  readonly count: number;
}

/**
 * StepOptions.previousSamples checked against this step's chunks and what the previous step kept:
 * for each, the packed row whose token it sets and the sample's index among the kept ones.
 */
export function previousSampleRows(
  pairs: readonly (readonly [chunk: number, sample: number])[],
  chunks: readonly SequenceChunk[],
  batch: PackedBatch,
  kept: KeptSamples,
): { row: number; kept: number }[] {
  const seen = new Set<number>();
  return pairs.map(([chunk, sample]) => {
    const c = chunks[chunk];
    if (!Number.isInteger(chunk) || c === undefined || c.prefill || c.tokens.length !== 1 || seen.has(chunk)) {
      throw new BatchShapeError(
        `previousSamples names chunk ${chunk}: it must name each single-token decode chunk of the step at most once`,
      );
    }
    seen.add(chunk);
    if (!Number.isInteger(sample) || sample < kept.first || sample >= kept.count) {
      throw new BatchShapeError(
        `previousSamples takes sample ${sample} of the previous step, which left samples ${kept.first}..${kept.count - 1}`,
      );
    }
    return { row: batch.lastRows[chunk]!, kept: sample - kept.first };
  });
}

/**
 * The packed rows whose logits `ModelRunner.logits` reads: the given ones (checked against the
 * step's token count) or, by default, each chunk's last row.
 */
export function logitRows(batch: PackedBatch, rows: readonly number[] | Uint32Array | undefined): Uint32Array {
  if (rows === undefined) return batch.lastRows;
  for (const r of rows) {
    if (!Number.isInteger(r) || r < 0 || r >= batch.numTokens) {
      throw new BatchShapeError(`logits row ${r} is outside the step's ${batch.numTokens} packed rows`);
    }
  }
  return Uint32Array.from(rows);
}
