/**
 * In-place Walsh-Hadamard transform of x[at .. at + n) (n a power of two), unnormalized (entries
 * +-1), then each value times `scale`: the butterflies of stage h = 1, 2, 4, ... pair element j
 * with j + h as (a + b, a - b), in increasing j. H is symmetric with H·H = n·I, so for any q and k,
 * (H·q / n) · (H·k) = q · k: rotating both sides of a dot product leaves it unchanged while it
 * spreads a vector's outlying components over all of them (the int4 KV cache's K, see kv-i4.ts).
 * The GPU kernel (@llm/kernels hadamardRows) takes the same steps in the same order.
 */
export function hadamardTransform(x: Float32Array, at: number, n: number, scale = 1): void {
  for (let h = 1; h < n; h *= 2) {
    for (let i = at; i < at + n; i += 2 * h) {
      for (let j = i; j < i + h; j++) {
        const a = x[j]!;
        const b = x[j + h]!;
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
  if (scale !== 1) for (let j = at; j < at + n; j++) x[j] = Math.fround(x[j]! * scale);
}
