import { GptqError } from './gptq-error.js';

/**
 * H = 2 X Xᵀ / N of one linear layer, from its inputs X (one column per token, N tokens), as the
 * GPTQ reference accumulates it batch by batch: the layer's output error ||W X - Q X||² for a
 * quantized Q is, up to the constant, (W - Q) H (W - Q)ᵀ. Sums in f64; the upper triangle is
 * accumulated and mirrored when read.
 */
export class HessianAccumulator {
  private readonly sum: Float64Array;
  private tokens = 0;

  constructor(readonly cols: number) {
    if (!Number.isInteger(cols) || cols < 1) {
      throw new GptqError('invalid_argument', `a Hessian needs a positive whole number of input columns, got ${cols}`);
    }
    this.sum = new Float64Array(cols * cols);
  }

  /** Tokens added so far. */
  get samples(): number {
    return this.tokens;
  }

  /** Adds `rows` tokens' inputs, [rows, cols] row-major (the layout a linear layer reads). */
  add(inputs: Float32Array | Float64Array, rows: number): void {
    const n = this.cols;
    if (inputs.length < rows * n) {
      throw new GptqError('invalid_argument', `${rows} rows of ${n} inputs need ${rows * n} values, got ${inputs.length}`);
    }
    const s = this.sum;
    for (let t = 0; t < rows; t++) {
      const x = t * n;
      for (let i = 0; i < n; i++) {
        const xi = inputs[x + i]!;
        if (xi === 0) continue;
        const row = i * n;
        for (let j = i; j < n; j++) s[row + j] = s[row + j]! + xi * inputs[x + j]!;
      }
    }
    this.tokens += rows;
  }

  /** 2 X Xᵀ / N, [cols, cols] row-major; all zeros before any token was added. */
  hessian(): Float64Array {
    const n = this.cols;
    const h = new Float64Array(n * n);
    const scale = this.tokens > 0 ? 2 / this.tokens : 0;
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = this.sum[i * n + j]! * scale;
        h[i * n + j] = v;
        h[j * n + i] = v;
      }
    }
    return h;
  }
}
