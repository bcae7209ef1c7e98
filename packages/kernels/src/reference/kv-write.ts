/**
 * cache[slots[t], :, :] = src[t, :, :] for K and V rows of `rowLen` = numKvHeads * headDim;
 * slot 0xFFFFFFFF (or any slot past the pool) skips the token.
 */
export function kvWrite(
  k: Float32Array,
  v: Float32Array,
  slots: Uint32Array,
  rowLen: number,
  kCache: Float32Array,
  vCache: Float32Array,
): void {
  const numSlots = Math.floor(kCache.length / rowLen);
  for (let t = 0; t < slots.length; t++) {
    const slot = slots[t]!;
    if (slot >= numSlots) continue;
    kCache.set(k.subarray(t * rowLen, (t + 1) * rowLen), slot * rowLen);
    vCache.set(v.subarray(t * rowLen, (t + 1) * rowLen), slot * rowLen);
  }
}
