/** The per-layer shape of the paged KV pool, K and V each f32 [numBlocks, numKvHeads, blockSize, headDim]. */
export interface KvPoolShape {
  numKvHeads: number;
  headDim: number;
  /** Tokens per KV block. */
  blockSize: number;
}

/**
 * Offset of element (slot, kvHead, 0) in a K or V pool. Each (block, KV head) is one contiguous
 * blockSize x headDim tile, so attention streams one head's keys without striding over the
 * other heads; a slot is block * blockSize + offset.
 */
export function kvPoolOffset(shape: KvPoolShape, slot: number, kvHead: number): number {
  const block = Math.floor(slot / shape.blockSize);
  const offset = slot - block * shape.blockSize;
  return ((block * shape.numKvHeads + kvHead) * shape.blockSize + offset) * shape.headDim;
}
