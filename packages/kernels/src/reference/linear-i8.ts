import type { I8Rows } from '@llm/quant';

export interface LinearI8ReferenceArgs {
  /** [m, k] quantized activations and their per-token scales. */
  x: I8Rows;
  /** [n, k] quantized weights and their per-row scales. */
  w: I8Rows;
  m: number;
  n: number;
  k: number;
  bias?: Float32Array | undefined;
  residual?: Float32Array | undefined;
}

/**
 * out[m, n] of a W8A8 product in the kernels' f32 arithmetic: the exact integer sum, rounded to
 * f32, times the weight row's scale, times the token's scale, then + bias, + residual.
 */
export function linearI8(a: LinearI8ReferenceArgs): Float32Array {
  const { x, w, m, n, k, bias, residual } = a;
  const out = new Float32Array(m * n);
  for (let t = 0; t < m; t++) {
    for (let r = 0; r < n; r++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += x.q[t * k + i]! * w.q[r * k + i]!;
      let v = Math.fround(Math.fround(Math.fround(acc) * w.scales[r]!) * x.scales[t]!);
      if (bias) v = Math.fround(v + bias[r]!);
      if (residual) v = Math.fround(v + residual[t * n + r]!);
      out[t * n + r] = v;
    }
  }
  return out;
}
