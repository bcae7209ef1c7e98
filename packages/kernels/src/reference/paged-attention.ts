import { kvPoolOffset } from './kv-pool-layout.js';

/** The CPU-side contents of a PagedAttentionBatch (same layouts, same semantics). */
export interface PagedAttentionReferenceArgs {
  /** [numTokens, numHeads, headDim]. */
  q: Float32Array;
  /** [numBlocks, numKvHeads, blockSize, headDim]. */
  kCache: Float32Array;
  vCache: Float32Array;
  /** [numSeqs, maxBlocksPerSeq]. */
  blockTables: Uint32Array;
  /** [numSeqs + 1]. */
  queryStarts: Uint32Array;
  /** [numSeqs]: KV length including the new tokens. */
  contextLens: Uint32Array;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  maxBlocksPerSeq: number;
  scale: number;
  out?: Float32Array | undefined;
}

/** Causal paged attention with f64 scores, softmax and accumulation. */
export function pagedAttention(a: PagedAttentionReferenceArgs): Float32Array {
  const {
    q,
    kCache,
    vCache,
    blockTables,
    queryStarts,
    contextLens,
    numHeads,
    numKvHeads,
    headDim,
    blockSize,
  } = a;
  const numSeqs = contextLens.length;
  const numTokens = queryStarts[numSeqs]!;
  const out = a.out ?? new Float32Array(numTokens * numHeads * headDim);
  const group = numHeads / numKvHeads;
  const shape = { numKvHeads, headDim, blockSize };
  const maxLen = Math.max(...contextLens);
  const scores = new Float64Array(maxLen);
  const acc = new Float64Array(headDim);
  // Pool slot of each KV position of the current sequence, resolved once per sequence.
  const slotOf = new Uint32Array(maxLen);
  for (let s = 0; s < numSeqs; s++) {
    const len = contextLens[s]!;
    for (let j = 0; j < len; j++) {
      const block = blockTables[s * a.maxBlocksPerSeq + Math.floor(j / blockSize)]!;
      slotOf[j] = block * blockSize + (j % blockSize);
    }
    const end = queryStarts[s + 1]!;
    for (let t = queryStarts[s]!; t < end; t++) {
      const pos = len - (end - t);
      for (let h = 0; h < numHeads; h++) {
        const kvh = Math.floor(h / group);
        const qb = (t * numHeads + h) * headDim;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= pos; j++) {
          const kb = kvPoolOffset(shape, slotOf[j]!, kvh);
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qb + d]! * kCache[kb + d]!;
          scores[j] = dot * a.scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        acc.fill(0);
        let sum = 0;
        for (let j = 0; j <= pos; j++) {
          const p = Math.exp(scores[j]! - max);
          sum += p;
          const vb = kvPoolOffset(shape, slotOf[j]!, kvh);
          for (let d = 0; d < headDim; d++) acc[d] = acc[d]! + p * vCache[vb + d]!;
        }
        for (let d = 0; d < headDim; d++) out[qb + d] = acc[d]! / sum;
      }
    }
  }
  return out;
}
