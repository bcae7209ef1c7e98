export interface LinearReferenceArgs {
  /** [m, k] */
  x: Float32Array;
  /** Row-major [n, k] (PyTorch layout). */
  w: Float32Array;
  m: number;
  n: number;
  k: number;
  bias?: Float32Array | undefined;
  residual?: Float32Array | undefined;
  out?: Float32Array | undefined;
}

/** out[m, n] = x · Wᵀ (+ bias) (+ residual), accumulated in f64. */
export function linear(a: LinearReferenceArgs): Float32Array {
  const { x, w, m, n, k, bias, residual } = a;
  const out = a.out ?? new Float32Array(m * n);
  const k4 = k - (k % 4);
  for (let r = 0; r < m; r++) {
    const xb = r * k;
    for (let c = 0; c < n; c++) {
      const wb = c * k;
      // Four partial sums: shorter dependency chains, and the JIT keeps them in registers.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i < k4; i += 4) {
        s0 += x[xb + i]! * w[wb + i]!;
        s1 += x[xb + i + 1]! * w[wb + i + 1]!;
        s2 += x[xb + i + 2]! * w[wb + i + 2]!;
        s3 += x[xb + i + 3]! * w[wb + i + 3]!;
      }
      for (; i < k; i++) s0 += x[xb + i]! * w[wb + i]!;
      let s = s0 + s1 + s2 + s3;
      if (bias) s += bias[c]!;
      if (residual) s += residual[r * n + c]!;
      out[r * n + c] = s;
    }
  }
  return out;
}
