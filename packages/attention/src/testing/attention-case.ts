import { reference } from '@llm/kernels';
import { f16ArrayToF32, f32ArrayToF16, roundTripKvI4, roundTripKvI8 } from '@llm/quant';

/** One sequence of a batch: `queryLen` new tokens at the end of a KV history of `contextLen`. */
export interface SequenceShape {
  queryLen: number;
  contextLen: number;
}

export interface AttentionCaseSpec {
  seqs: readonly SequenceShape[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  /** Unused physical blocks mixed into the pool (filled with NaN), so stray reads show. */
  spareBlocks?: number;
}

/**
 * A random batch on the host. `kCache`/`vCache` hold every position, the new tokens' K/V
 * included (what the reference reads); `newK`/`newV` and `slotMapping` are what a KV write must
 * scatter into the pool. Slots past a sequence's context and spare blocks hold NaN.
 */
export interface HostAttentionCase extends reference.PagedAttentionReferenceArgs {
  numSeqs: number;
  numTokens: number;
  maxContextLen: number;
  numBlocks: number;
  tokenSeqIds: Uint32Array;
  /** [numTokens]: slot (physicalBlock * blockSize + offset) of each new token. */
  slotMapping: Uint32Array;
  /** [numTokens, numKvHeads, headDim] */
  newK: Float32Array;
  newV: Float32Array;
}

// Q and K in [-2.5, 2.5] give scores with a standard deviation near 2 after the 1/sqrt(d)
// scale: peaked enough that a wrong running max or rescale shows, without overflow.
const QK_RANGE = 2.5;

/** A random batch drawn from `rand` (uniform in [0, 1); a seeded one in tests). */
export function buildAttentionCase(spec: AttentionCaseSpec, rand: () => number): HostAttentionCase {
  const { seqs, numHeads, numKvHeads, headDim: d, blockSize } = spec;
  const numSeqs = seqs.length;
  const blocksPerSeq = seqs.map((s) => Math.ceil(s.contextLen / blockSize));
  const maxBlocksPerSeq = Math.max(1, ...blocksPerSeq);
  const usedBlocks = blocksPerSeq.reduce((a, b) => a + b, 0);
  const numBlocks = usedBlocks + (spec.spareBlocks ?? 0);

  // Physical blocks in shuffled order, as a pool that has served many requests looks.
  const physical = Array.from({ length: numBlocks }, (_, i) => i);
  for (let i = numBlocks - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [physical[i], physical[j]] = [physical[j]!, physical[i]!];
  }
  const blockTables = new Uint32Array(numSeqs * maxBlocksPerSeq).fill(0xffffffff);
  let next = 0;
  seqs.forEach((_, s) => {
    for (let b = 0; b < blocksPerSeq[s]!; b++) blockTables[s * maxBlocksPerSeq + b] = physical[next++]!;
  });

  const queryStarts = new Uint32Array(numSeqs + 1);
  const contextLens = new Uint32Array(numSeqs);
  seqs.forEach((s, i) => {
    if (!(s.queryLen >= 1 && s.queryLen <= s.contextLen)) {
      throw new RangeError(
        `sequence ${i}: need 1 <= queryLen (${s.queryLen}) <= contextLen (${s.contextLen})`,
      );
    }
    queryStarts[i + 1] = queryStarts[i]! + s.queryLen;
    contextLens[i] = s.contextLen;
  });
  const numTokens = queryStarts[numSeqs]!;
  const tokenSeqIds = new Uint32Array(numTokens);
  seqs.forEach((_, s) => tokenSeqIds.fill(s, queryStarts[s]!, queryStarts[s + 1]!));

  const rowLen = numKvHeads * d;
  const poolShape = { numKvHeads, headDim: d, blockSize };
  const kCache = new Float32Array(numBlocks * blockSize * rowLen).fill(Number.NaN);
  const vCache = new Float32Array(numBlocks * blockSize * rowLen).fill(Number.NaN);
  const slotMapping = new Uint32Array(numTokens);
  const newK = new Float32Array(numTokens * rowLen);
  const newV = new Float32Array(numTokens * rowLen);
  seqs.forEach((s, i) => {
    for (let pos = 0; pos < s.contextLen; pos++) {
      const slot =
        blockTables[i * maxBlocksPerSeq + Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
      for (let h = 0; h < numKvHeads; h++) {
        const at = reference.kvPoolOffset(poolShape, slot, h);
        for (let x = 0; x < d; x++) {
          kCache[at + x] = QK_RANGE * (2 * rand() - 1);
          vCache[at + x] = 2 * rand() - 1;
        }
      }
      const t = queryStarts[i + 1]! - (s.contextLen - pos);
      if (t >= queryStarts[i]!) {
        slotMapping[t] = slot;
        for (let h = 0; h < numKvHeads; h++) {
          const at = reference.kvPoolOffset(poolShape, slot, h);
          newK.set(kCache.subarray(at, at + d), t * rowLen + h * d);
          newV.set(vCache.subarray(at, at + d), t * rowLen + h * d);
        }
      }
    }
  });
  const q = new Float32Array(numTokens * numHeads * d);
  for (let i = 0; i < q.length; i++) q[i] = QK_RANGE * (2 * rand() - 1);

  return {
    q,
    kCache,
    vCache,
    blockTables,
    queryStarts,
    contextLens,
    tokenSeqIds,
    slotMapping,
    newK,
    newV,
    numSeqs,
    numTokens,
    numBlocks,
    maxBlocksPerSeq,
    maxContextLen: Math.max(...seqs.map((s) => s.contextLen)),
    numHeads,
    numKvHeads,
    headDim: d,
    blockSize,
    scale: 1 / Math.sqrt(d),
  };
}

/**
 * The float64 reference output (rounded to f32) of the packed tokens `tokens`, as
 * `[tokens.length, numHeads, headDim]`. Each listed token becomes a one-token sequence whose
 * context ends at its position, over the same block table, so long cases can check sampled rows.
 */
/**
 * The case with every K and V value rounded to f16 (NaN stays NaN): what an f16 pool holds, so
 * the reference of the rounded case isolates the kernels' own error from the pool's rounding.
 */
export function roundKvToF16(c: HostAttentionCase): HostAttentionCase {
  const round = (x: Float32Array) => f16ArrayToF32(f32ArrayToF16(x));
  return { ...c, kCache: round(c.kCache), vCache: round(c.vCache), newK: round(c.newK), newV: round(c.newV) };
}

/**
 * The case with every K and V row quantized to int8 and back (@llm/quant's roundTripKvI8, what
 * an i8 pool and the kv-write kernel hold, bit for bit); NaN rows stay NaN.
 */
export function roundKvToI8(c: HostAttentionCase): HostAttentionCase {
  return roundKvRows(c, roundTripKvI8);
}

/** The same with int4 groups (@llm/quant's roundTripKvI4, what an i4 pool holds). */
export function roundKvToI4(c: HostAttentionCase): HostAttentionCase {
  return roundKvRows(c, roundTripKvI4);
}

function roundKvRows(c: HostAttentionCase, roundTrip: (x: Float32Array, headDim: number) => Float32Array): HostAttentionCase {
  const round = (x: Float32Array) => {
    const out = roundTrip(x, c.headDim);
    for (let at = 0; at < x.length; at += c.headDim) {
      if (Number.isNaN(x[at]!)) out.fill(Number.NaN, at, at + c.headDim);
    }
    return out;
  };
  return { ...c, kCache: round(c.kCache), vCache: round(c.vCache), newK: round(c.newK), newV: round(c.newV) };
}

export function referenceRows(c: HostAttentionCase, tokens: readonly number[]): Float32Array {
  const n = tokens.length;
  const rowLen = c.numHeads * c.headDim;
  const q = new Float32Array(n * rowLen);
  const blockTables = new Uint32Array(n * c.maxBlocksPerSeq);
  const queryStarts = new Uint32Array(n + 1);
  const contextLens = new Uint32Array(n);
  tokens.forEach((t, i) => {
    const seq = c.tokenSeqIds[t]!;
    q.set(c.q.subarray(t * rowLen, (t + 1) * rowLen), i * rowLen);
    blockTables.set(
      c.blockTables.subarray(seq * c.maxBlocksPerSeq, (seq + 1) * c.maxBlocksPerSeq),
      i * c.maxBlocksPerSeq,
    );
    queryStarts[i + 1] = i + 1;
    contextLens[i] = c.contextLens[seq]! - (c.queryStarts[seq + 1]! - t) + 1;
  });
  return reference.pagedAttention({ ...c, q, blockTables, queryStarts, contextLens, out: undefined });
}

/** Positions [start, start + len) of sequence `seq` of a case, as one sequence of a step. */
export interface SequenceSlice {
  seq: number;
  start: number;
  len: number;
}

/**
 * The step that runs `slices` of `c`'s sequences together, in that order: slice i is a sequence
 * whose new tokens are positions [start, start + len) of sequence `seq` (a decode when len is 1
 * and start the last position, a prompt chunk otherwise), over the same pool and block tables.
 * Positions before the slice are cached; positions after it are NaN in the pool, as they are not
 * written yet at that step. `c` must hold every position as a query token (a full prefill), so
 * that each position has its query row; a position's data is the same in every step made from `c`.
 */
export function sliceBatch(c: HostAttentionCase, slices: readonly SequenceSlice[]): HostAttentionCase {
  const numSeqs = slices.length;
  const mb = c.maxBlocksPerSeq;
  const qLen = c.numHeads * c.headDim;
  const kvLen = c.numKvHeads * c.headDim;
  const queryStarts = new Uint32Array(numSeqs + 1);
  const contextLens = new Uint32Array(numSeqs);
  const blockTables = new Uint32Array(numSeqs * mb);
  const kCache = c.kCache.slice();
  const vCache = c.vCache.slice();
  const poolShape = { numKvHeads: c.numKvHeads, headDim: c.headDim, blockSize: c.blockSize };
  const slotOf = (seq: number, pos: number) =>
    c.blockTables[seq * mb + Math.floor(pos / c.blockSize)]! * c.blockSize + (pos % c.blockSize);
  slices.forEach(({ seq, start, len }, i) => {
    const length = c.contextLens[seq]!;
    if (c.queryStarts[seq + 1]! - c.queryStarts[seq]! !== length) {
      throw new RangeError(`sequence ${seq} must hold every position as a query token`);
    }
    if (!(Number.isInteger(start) && start >= 0 && len >= 1 && start + len <= length)) {
      throw new RangeError(
        `slice [${start}, ${start + len}) lies outside sequence ${seq} of ${length} positions`,
      );
    }
    queryStarts[i + 1] = queryStarts[i]! + len;
    contextLens[i] = start + len;
    blockTables.set(c.blockTables.subarray(seq * mb, (seq + 1) * mb), i * mb);
    for (let pos = start + len; pos < length; pos++) {
      for (let h = 0; h < c.numKvHeads; h++) {
        const at = reference.kvPoolOffset(poolShape, slotOf(seq, pos), h);
        kCache.fill(Number.NaN, at, at + c.headDim);
        vCache.fill(Number.NaN, at, at + c.headDim);
      }
    }
  });
  const numTokens = queryStarts[numSeqs]!;
  const q = new Float32Array(numTokens * qLen);
  const newK = new Float32Array(numTokens * kvLen);
  const newV = new Float32Array(numTokens * kvLen);
  const slotMapping = new Uint32Array(numTokens);
  const tokenSeqIds = new Uint32Array(numTokens);
  slices.forEach(({ seq, start, len }, i) => {
    for (let j = 0; j < len; j++) {
      const t = queryStarts[i]! + j;
      const from = c.queryStarts[seq]! + start + j;
      q.set(c.q.subarray(from * qLen, (from + 1) * qLen), t * qLen);
      newK.set(c.newK.subarray(from * kvLen, (from + 1) * kvLen), t * kvLen);
      newV.set(c.newV.subarray(from * kvLen, (from + 1) * kvLen), t * kvLen);
      slotMapping[t] = c.slotMapping[from]!;
      tokenSeqIds[t] = i;
    }
  });
  return {
    ...c,
    q,
    kCache,
    vCache,
    blockTables,
    queryStarts,
    contextLens,
    tokenSeqIds,
    slotMapping,
    newK,
    newV,
    numSeqs,
    numTokens,
    maxContextLen: Math.max(...contextLens),
  };
}
