import type { GpuKvDtype } from '@llm/quant';

/**
 * One step's attention work over the paged KV pool: packed variable-length sequences, no padding.
 * Every attention kernel (the naive reference kernel here and the fast ones) takes this shape.
 *
 * KV pool layout, per layer: K and V each `[numBlocks, numKvHeads, blockSize, headDim]` of
 * `kvDtype` (f32, f16 or i8 with per-row scales, see kv-pool-format.ts), so
 * each (block, KV head) is one contiguous blockSize x headDim tile that attention streams without
 * striding over the other heads. A token's slot is `physicalBlock * blockSize + offsetInBlock`;
 * element (slot, h, d) lives at `((physicalBlock * numKvHeads + h) * blockSize + offsetInBlock) *
 * headDim + d`.
 *
 * Causality: the token at packed index t of sequence s has position
 * `p = contextLens[s] - (queryStarts[s + 1] - t)` and attends KV positions 0..p.
 * GQA/MQA: query head h reads KV head `floor(h / (numHeads / numKvHeads))`.
 */
export interface PagedAttentionBatch {
  /** f32 [numTokens, numHeads, headDim], packed sequences, no padding. */
  q: GPUBuffer;
  /** f32 [numTokens, numHeads, headDim]. */
  out: GPUBuffer;
  /** kvDtype [numBlocks, numKvHeads, blockSize, headDim]. */
  kCache: GPUBuffer;
  /** kvDtype [numBlocks, numKvHeads, blockSize, headDim]. */
  vCache: GPUBuffer;
  /** Element type of kCache and vCache; default 'f32'. */
  kvDtype?: GpuKvDtype;
  /** u32 [numSeqs, maxBlocksPerSeq]: physical block of each logical block. */
  blockTables: GPUBuffer;
  /** u32 [numSeqs + 1]: prefix offsets of each sequence's tokens in the packed list. */
  queryStarts: GPUBuffer;
  /** u32 [numSeqs]: KV length of each sequence including its new tokens. */
  contextLens: GPUBuffer;
  /** u32 [numTokens]: sequence index of each packed token. */
  tokenSeqIds: GPUBuffer;
  numTokens: number;
  numSeqs: number;
  maxBlocksPerSeq: number;
  /** Upper bound of contextLens (sizes loops and scratch). */
  maxContextLen: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Tokens per KV block. */
  blockSize: number;
  /** Score scale, usually 1 / sqrt(headDim). */
  scale: number;
}
