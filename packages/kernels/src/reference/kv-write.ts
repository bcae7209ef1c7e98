import { kvPoolOffset, type KvPoolShape } from './kv-pool-layout.js';

/**
 * cache[slot of token t, h, :] = src[t, h, :] for K and V rows of numKvHeads * headDim;
 * slot 0xFFFFFFFF (or any slot past the pool) skips the token.
 */
export function kvWrite(
  k: Float32Array,
  v: Float32Array,
  slots: Uint32Array,
  shape: KvPoolShape,
  kCache: Float32Array,
  vCache: Float32Array,
): void {
  const { numKvHeads, headDim } = shape;
  const rowLen = numKvHeads * headDim;
  const numSlots = Math.floor(kCache.length / rowLen);
  for (let t = 0; t < slots.length; t++) {
    const slot = slots[t]!;
    if (slot >= numSlots) continue;
    for (let h = 0; h < numKvHeads; h++) {
      const src = t * rowLen + h * headDim;
      const dst = kvPoolOffset(shape, slot, h);
      kCache.set(k.subarray(src, src + headDim), dst);
      vCache.set(v.subarray(src, src + headDim), dst);
    }
  }
}
