import { seededRandom } from '@llm/kernels/testing';
import type { HostAttentionInputs } from '../attention-reference.js';

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
  seed: number;
}

/**
 * A random batch on the host. `kCache`/`vCache` hold every position, the new tokens' K/V
 * included (what the reference reads); `newK`/`newV` and `slotMapping` are what a KV write must
 * scatter into the pool. Slots past a sequence's context and spare blocks hold NaN.
 */
export interface HostAttentionCase extends HostAttentionInputs {
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

export function buildAttentionCase(spec: AttentionCaseSpec): HostAttentionCase {
  const { seqs, numHeads, numKvHeads, headDim: d, blockSize } = spec;
  const rand = seededRandom(spec.seed);
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
      throw new RangeError(`sequence ${i}: need 1 <= queryLen (${s.queryLen}) <= contextLen (${s.contextLen})`);
    }
    queryStarts[i + 1] = queryStarts[i]! + s.queryLen;
    contextLens[i] = s.contextLen;
  });
  const numTokens = queryStarts[numSeqs]!;
  const tokenSeqIds = new Uint32Array(numTokens);
  seqs.forEach((_, s) => tokenSeqIds.fill(s, queryStarts[s]!, queryStarts[s + 1]!));

  const rowLen = numKvHeads * d;
  const kCache = new Float32Array(numBlocks * blockSize * rowLen).fill(Number.NaN);
  const vCache = new Float32Array(numBlocks * blockSize * rowLen).fill(Number.NaN);
  const slotMapping = new Uint32Array(numTokens);
  const newK = new Float32Array(numTokens * rowLen);
  const newV = new Float32Array(numTokens * rowLen);
  seqs.forEach((s, i) => {
    for (let pos = 0; pos < s.contextLen; pos++) {
      const slot = blockTables[i * maxBlocksPerSeq + Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
      for (let x = 0; x < rowLen; x++) {
        kCache[slot * rowLen + x] = QK_RANGE * (2 * rand() - 1);
        vCache[slot * rowLen + x] = 2 * rand() - 1;
      }
      const t = queryStarts[i + 1]! - (s.contextLen - pos);
      if (t >= queryStarts[i]!) {
        slotMapping[t] = slot;
        newK.set(kCache.subarray(slot * rowLen, (slot + 1) * rowLen), t * rowLen);
        newV.set(vCache.subarray(slot * rowLen, (slot + 1) * rowLen), t * rowLen);
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
