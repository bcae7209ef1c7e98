/**
 * `tokenMask` on the CPU, in place: for mask m, every token t of row `maskRows[m]` whose bit
 * (bit t % 32 of word m · ceil(vocab / 32) + t / 32) is clear gets -Infinity.
 */
export function applyTokenMask(
  logits: Float32Array,
  vocab: number,
  bitmask: Uint32Array,
  maskRows: readonly number[] | Uint32Array,
): Float32Array {
  const words = Math.ceil(vocab / 32);
  maskRows.forEach((row, m) => {
    for (let t = 0; t < vocab; t++) {
      if (((bitmask[m * words + (t >> 5)]! >>> (t & 31)) & 1) === 0) logits[row * vocab + t] = -Infinity;
    }
  });
  return logits;
}
