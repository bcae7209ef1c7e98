import { describe, expect, it } from 'vitest';
import { dequantize, quantize } from '../codecs/block-codecs.js';
import { LlmError } from '../llm-error.js';
import { GptqError } from './gptq-error.js';
import { gptqHessianFactor, gptqQuantize } from './gptq.js';
import { GPTQ_TYPES, gptqGrid } from './gptq-grid.js';
import { HessianAccumulator } from './hessian.js';

// A small linear congruential generator: the same numbers on every run.
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

function randomWeights(rows: number, cols: number, seed: number): Float32Array {
  const next = random(seed);
  // A few larger weights per row, as trained matrices have, so block scales differ.
  return Float32Array.from({ length: rows * cols }, () => gaussian(next) * (next() < 0.05 ? 0.3 : 0.05));
}

function identity(n: number): Float64Array {
  const h = new Float64Array(n * n);
  for (let i = 0; i < n; i++) h[i * n + i] = 1;
  return h;
}

/** Inputs with strong correlation between columns: x = A z with a random mixing A, plus an offset per column. */
function correlatedInputs(tokens: number, cols: number, seed: number): Float32Array {
  const next = random(seed);
  const rank = Math.max(2, Math.floor(cols / 4));
  const mix = Float64Array.from({ length: cols * rank }, () => gaussian(next));
  const offset = Float64Array.from({ length: cols }, () => gaussian(next) * 0.5);
  const x = new Float32Array(tokens * cols);
  const z = new Float64Array(rank);
  for (let t = 0; t < tokens; t++) {
    for (let k = 0; k < rank; k++) z[k] = gaussian(next);
    for (let c = 0; c < cols; c++) {
      let s = offset[c]! + 0.1 * gaussian(next);
      for (let k = 0; k < rank; k++) s += mix[c * rank + k]! * z[k]!;
      x[t * cols + c] = s;
    }
  }
  return x;
}

/** ||W X - Q X||_F² over the tokens, in f64. */
function outputError(w: Float32Array, q: Float32Array, x: Float32Array, rows: number, cols: number, tokens: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < tokens; t++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += (w[r * cols + c]! - q[r * cols + c]!) * x[t * cols + c]!;
      total += s * s;
    }
  }
  return total;
}

describe('gptqQuantize', () => {
  it.each(GPTQ_TYPES)('writes the round-to-nearest codec bytes of %s when H is the identity', (type) => {
    const bs = gptqGrid(type).blockSize;
    const rows = 7;
    const cols = 3 * bs;
    const w = randomWeights(rows, cols, 11);
    const gptq = gptqQuantize(w, rows, cols, identity(cols), { type });
    expect(gptq).toEqual(quantize(type, w));
    // Every scale chosen up front from the unchanged weights: the same again.
    expect(gptqQuantize(w, rows, cols, identity(cols), { type, groupSize: 0, batchColumns: 5 })).toEqual(gptq);
  });

  it.each(GPTQ_TYPES)('lowers the output error ||WX - QX|| below round to nearest at %s on correlated inputs', (type) => {
    const bs = gptqGrid(type).blockSize;
    const rows = 13;
    const cols = bs === 256 ? 256 : 96;
    const tokens = 3 * cols;
    const w = randomWeights(rows, cols, 5);
    const x = correlatedInputs(tokens, cols, 9);
    const acc = new HessianAccumulator(cols);
    acc.add(x.subarray(0, 100 * cols), 100);
    acc.add(x.subarray(100 * cols), tokens - 100);
    const rtn = dequantize(type, quantize(type, w), rows * cols);
    const gptq = dequantize(type, gptqQuantize(w, rows, cols, acc.hessian(), { type, batchColumns: 40 }), rows * cols);
    const rtnError = outputError(w, rtn, x, rows, cols, tokens);
    const gptqError = outputError(w, gptq, x, rows, cols, tokens);
    expect(rtnError).toBeGreaterThan(0);
    expect(gptqError).toBeLessThan(0.8 * rtnError);
  });

  it('gives the lazy batches the same result as one column at a time', () => {
    const cols = 160;
    const w = randomWeights(5, cols, 21);
    const acc = new HessianAccumulator(cols);
    acc.add(correlatedInputs(400, cols, 22), 400);
    const h = acc.hessian();
    const one = gptqQuantize(w, 5, cols, h, { type: 'q4_1', batchColumns: 1 });
    const lazy = gptqQuantize(w, 5, cols, h, { type: 'q4_1', batchColumns: 128 });
    // The sums are reordered, so a value near a rounding boundary may round the other way.
    const differing = one.filter((b, i) => b !== lazy[i]).length;
    expect(differing).toBeLessThan(one.length / 100);
  });

  it('moves the error of a column into the column correlated with it (two columns by hand)', () => {
    // H has one pair of correlated columns, 0 and 1: [[a, b], [b, a]] (a = 1 + λ after
    // dampening). Quantizing column 0 first leaves error δ0 = w0 - q0, and the optimal update
    // of column 1 is δ0 · b / a; every other column stays round to nearest.
    const cols = 32;
    const b = 0.6;
    const h = identity(cols);
    h[1] = b;
    h[cols] = b;
    const w = Float32Array.from({ length: cols }, (_, i) => ((i * 37) % 17) / 17 - 0.45);
    w[0] = 0.21;
    w[1] = 0.05;
    const out = gptqQuantize(w, 1, cols, h, { type: 'q8_0', dampening: 0 });
    const rtn = quantize('q8_0', w);
    const got = dequantize('q8_0', out, cols);
    const d = dequantize('q8_0', rtn, cols)[0]! / ((rtn[2]! << 24) >> 24);
    const q0 = got[0]!;
    expect(q0).toBe(dequantize('q8_0', rtn, cols)[0]);
    const updated = w[1]! + ((w[0]! - q0) * b) / 1;
    expect(got[1]).toBeCloseTo(Math.round(updated / d) * d, 6);
    expect(got.subarray(2)).toEqual(dequantize('q8_0', rtn, cols).subarray(2));
  });

  it('quantizes dead columns (inputs always zero) to zero and still quantizes the rest', () => {
    const cols = 64;
    const x = correlatedInputs(200, cols, 3);
    for (let t = 0; t < 200; t++) x[t * cols + 5] = 0;
    const acc = new HessianAccumulator(cols);
    acc.add(x, 200);
    const w = randomWeights(3, cols, 4);
    const q = dequantize('q4_0', gptqQuantize(w, 3, cols, acc.hessian(), { type: 'q4_0' }), 3 * cols);
    for (let r = 0; r < 3; r++) expect(Math.abs(q[r * cols + 5]!)).toBe(0);
    expect(q.some((v) => v !== 0)).toBe(true);
  });

  it('refuses types without a grid, partial blocks, bad groups and non-finite weights with typed errors', () => {
    const w = randomWeights(2, 64, 1);
    const h = identity(64);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(GptqError);
        expect(error).toBeInstanceOf(LlmError);
        return (error as LlmError).code;
      }
      return 'none';
    };
    expect(code(() => gptqQuantize(w, 2, 64, h, { type: 'q6_k' }))).toBe('unsupported');
    expect(code(() => gptqQuantize(w, 4, 32, identity(32), { type: 'q4_0', groupSize: 48 }))).toBe('invalid_argument');
    expect(code(() => gptqQuantize(w, 2, 64, h, { type: 'q4_k' }))).toBe('invalid_argument');
    expect(code(() => gptqQuantize(w, 2, 64, identity(32), { type: 'q4_0' }))).toBe('invalid_argument');
    const bad = w.slice();
    bad[7] = Number.NaN;
    expect(code(() => gptqQuantize(bad, 2, 64, h, { type: 'q4_0' }))).toBe('invalid_argument');
    expect(() => gptqQuantize(w, 2, 64, h, { type: 'q4_0', groupSize: 48 })).toThrow(/multiple of q4_0's block of 32/);
  });
});

describe('gptqHessianFactor', () => {
  it('returns U upper triangular with Uᵀ U (H + λI) = I', () => {
    const cols = 37;
    const acc = new HessianAccumulator(cols);
    acc.add(correlatedInputs(120, cols, 8), 120);
    const h = acc.hessian();
    const { upper: u } = gptqHessianFactor(h, cols, 0.01);
    let mean = 0;
    for (let i = 0; i < cols; i++) mean += h[i * cols + i]! / cols;
    for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) expect(u[i * cols + j]).toBe(0);
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < cols; j++) {
        // (Uᵀ U H')[i][j] = Σ_k Σ_l U[k][i] U[k][l] H'[l][j]
        let s = 0;
        for (let k = 0; k < cols; k++) {
          let t = 0;
          for (let l = 0; l < cols; l++) t += u[k * cols + l]! * (h[l * cols + j]! + (l === j ? 0.01 * mean : 0));
          s += u[k * cols + i]! * t;
        }
        expect(s).toBeCloseTo(i === j ? 1 : 0, 8);
      }
    }
  });

  it('refuses a Hessian that is not positive definite without dampening', () => {
    const h = Float64Array.from([1, 2, 2, 1]);
    expect(() => gptqHessianFactor(h, 2, 0)).toThrow(/not positive definite.*raise the dampening/);
  });
});

describe('HessianAccumulator', () => {
  it('accumulates 2 X Xᵀ / N over batches of tokens', () => {
    const x = Float32Array.from([1, 2, -1, 0.5, 3, -2, 0.25, 1, 4]);
    const acc = new HessianAccumulator(3);
    acc.add(x.subarray(0, 3), 1);
    acc.add(x.subarray(3), 2);
    expect(acc.samples).toBe(3);
    const h = acc.hessian();
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let t = 0; t < 3; t++) s += x[t * 3 + i]! * x[t * 3 + j]!;
        expect(h[i * 3 + j]).toBeCloseTo((2 * s) / 3, 12);
      }
    }
  });
});
