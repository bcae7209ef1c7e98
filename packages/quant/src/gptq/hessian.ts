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
  private readonly block: Float64Array;

  constructor(readonly cols: number) {
    if (!Number.isInteger(cols) || cols < 1) {
      throw new GptqError('invalid_argument', `a Hessian needs a positive whole number of input columns, got ${cols}`);
    }
    this.sum = new Float64Array(cols * cols);
    this.block = new Float64Array(4 * cols);
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
    // Four tokens per sweep of the upper triangle: the sum of a wide layer (2048 columns: 32 MiB)
    // does not fit a cache, so each sweep costs a pass over memory. The block is transposed so
    // that the four values of a column sit together.
    const block = this.block;
    for (let t0 = 0; t0 < rows; t0 += 4) {
      const count = Math.min(4, rows - t0);
      block.fill(0);
      for (let t = 0; t < count; t++) {
        const x = (t0 + t) * n;
        for (let c = 0; c < n; c++) block[4 * c + t] = inputs[x + c]!;
      }
      for (let i = 0; i < n; i++) {
        const a0 = block[4 * i]!;
        const a1 = block[4 * i + 1]!;
        const a2 = block[4 * i + 2]!;
        const a3 = block[4 * i + 3]!;
        if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
        const row = i * n;
        for (let j = i, b = 4 * i; j < n; j++, b += 4) {
          s[row + j] = s[row + j]! + a0 * block[b]! + a1 * block[b + 1]! + a2 * block[b + 2]! + a3 * block[b + 3]!;
        }
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
