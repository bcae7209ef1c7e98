const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A u32 that orders like the f32 value (-0 = +0), every NaN above +inf; matches the GPU's. */
export function orderedKey(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return 0xffffffff;
  if (bits === 0x80000000) return 0x80000000;
  return bits >>> 31 === 1 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** Index of the largest value per row; ties to the lowest index; NaN counts as largest. */
export function argmax(
  logits: Float32Array,
  rows: number,
  vocab: number,
  out: Uint32Array = new Uint32Array(rows),
): Uint32Array {
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestKey = orderedKey(logits[r * vocab]!);
    for (let i = 1; i < vocab; i++) {
      const k = orderedKey(logits[r * vocab + i]!);
      if (k > bestKey) {
        bestKey = k;
        best = i;
      }
    }
    out[r] = best;
  }
  return out;
}
