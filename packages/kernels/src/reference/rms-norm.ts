export interface RmsNormReferenceArgs {
  x: Float32Array;
  weight: Float32Array;
  rows: number;
  dim: number;
  eps: number;
  out?: Float32Array | undefined;
}

/** out = x / sqrt(mean(x²) + eps) * weight per row, the mean square in f64. */
export function rmsNorm(a: RmsNormReferenceArgs): Float32Array {
  const { x, weight, rows, dim, eps } = a;
  const out = a.out ?? new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += x[base + i]! * x[base + i]!;
    const inv = 1 / Math.sqrt(s / dim + eps);
    for (let i = 0; i < dim; i++) out[base + i] = x[base + i]! * inv * weight[i]!;
  }
  return out;
}
