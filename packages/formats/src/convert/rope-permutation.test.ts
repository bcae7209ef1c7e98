import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../synthetic/seeded-random.js';
import { permuteRopeRows } from './rope-permutation.js';

/** llama.cpp's permute written literally as index arithmetic over reshape(n_head, 2, hd/2, cols).swapaxes(1, 2). */
function llamaCppPermute(w: Float32Array, rows: number, cols: number, numHeads: number): Float32Array {
  const hd2 = rows / numHeads / 2;
  const out = new Float32Array(w.length);
  // Output element [h, j, i, c] of shape (n_head, hd/2, 2, cols) reads input [h, i, j, c] of (n_head, 2, hd/2, cols).
  for (let h = 0; h < numHeads; h++)
    for (let j = 0; j < hd2; j++)
      for (let i = 0; i < 2; i++)
        for (let c = 0; c < cols; c++) {
          out[((h * hd2 + j) * 2 + i) * cols + c] = w[((h * 2 + i) * hd2 + j) * cols + c]!;
        }
  return out;
}

const layoutCase = fc
  .record({
    numHeads: fc.integer({ min: 1, max: 6 }),
    halfHeadDim: fc.integer({ min: 1, max: 5 }),
    cols: fc.integer({ min: 1, max: 7 }),
  })
  .chain(({ numHeads, halfHeadDim, cols }) =>
    fc.record({
      numHeads: fc.constant(numHeads),
      rows: fc.constant(numHeads * halfHeadDim * 2),
      cols: fc.constant(cols),
      values: fc.float32Array({
        minLength: numHeads * halfHeadDim * 2 * cols,
        maxLength: numHeads * halfHeadDim * 2 * cols,
        noDefaultInfinity: true,
      }),
    }),
  );

describe('permuteRopeRows', () => {
  it('matches llama.cpp convert_hf_to_gguf permute for half-split → adjacent', () => {
    fc.assert(
      fc.property(layoutCase, ({ numHeads, rows, cols, values }) => {
        expect(permuteRopeRows(values, [rows, cols], numHeads, 'halfSplit', 'adjacent')).toEqual(
          llamaCppPermute(values, rows, cols, numHeads),
        );
      }),
    );
  });

  it('adjacent → half-split inverts half-split → adjacent, bit for bit, for matrices and biases', () => {
    fc.assert(
      fc.property(layoutCase, fc.boolean(), ({ numHeads, rows, cols, values }, asBias) => {
        const data = asBias ? values.slice(0, rows) : values;
        const shape = asBias ? [rows] : [rows, cols];
        const roundTrip = permuteRopeRows(
          permuteRopeRows(data, shape, numHeads, 'halfSplit', 'adjacent'),
          shape,
          numHeads,
          'adjacent',
          'halfSplit',
        );
        // Compare bits: NaN payloads and -0 must survive too.
        expect(new Uint32Array(roundTrip.buffer)).toEqual(new Uint32Array(data.buffer));
        const halfBits = new Uint16Array(data.buffer);
        const halfShape = asBias ? [rows * 2] : [rows, cols * 2];
        const halfRoundTrip = permuteRopeRows(
          permuteRopeRows(halfBits, halfShape, numHeads, 'adjacent', 'halfSplit'),
          halfShape,
          numHeads,
          'halfSplit',
          'adjacent',
        );
        expect(halfRoundTrip).toEqual(halfBits);
      }),
    );
  });

  it('pairs dimension i with i + headDim/2 in half-split and 2i with 2i+1 in adjacent', () => {
    // One head of 6 rows, one column: half-split rows [x0 x1 x2 | y0 y1 y2] become x0 y0 x1 y1 x2 y2.
    const halfSplit = new Float32Array([10, 11, 12, 20, 21, 22]);
    expect([...permuteRopeRows(halfSplit, [6], 1, 'halfSplit', 'adjacent')]).toEqual([
      10, 20, 11, 21, 12, 22,
    ]);
  });

  it('returns the input untouched when the layouts agree, and refuses shapes that do not split into heads', () => {
    const data = new Float32Array(8);
    expect(permuteRopeRows(data, [4, 2], 2, 'adjacent', 'adjacent')).toBe(data);
    expect(() => permuteRopeRows(data, [4, 2], 3, 'adjacent', 'halfSplit')).toThrow(RangeError);
  });
});

/** Rotates one head vector in place with RoPE at `position`, pairing dimensions per `layout`. */
function rope(head: Float64Array, position: number, layout: 'adjacent' | 'halfSplit'): void {
  const half = head.length / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * 10000 ** ((-2 * i) / head.length);
    const [a, b] = layout === 'adjacent' ? [2 * i, 2 * i + 1] : [i, i + half];
    const x = head[a]!;
    const y = head[b]!;
    head[a] = x * Math.cos(angle) - y * Math.sin(angle);
    head[b] = x * Math.sin(angle) + y * Math.cos(angle);
  }
}

/** Attention logits q_h(pos 3) · k_h(pos 7) for every query head h, with GQA head sharing. */
function attentionScores(
  wq: Float32Array,
  wk: Float32Array,
  x: Float32Array,
  numHeads: number,
  numKvHeads: number,
  headDim: number,
  layout: 'adjacent' | 'halfSplit',
): number[] {
  const project = (w: Float32Array, rows: number): Float64Array => {
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < x.length; c++) out[r]! += w[r * x.length + c]! * x[c]!;
    return out;
  };
  const q = project(wq, numHeads * headDim);
  const k = project(wk, numKvHeads * headDim);
  const scores: number[] = [];
  for (let h = 0; h < numHeads; h++) {
    const qh = q.slice(h * headDim, (h + 1) * headDim);
    const kvHead = Math.floor(h / (numHeads / numKvHeads));
    const kh = k.slice(kvHead * headDim, (kvHead + 1) * headDim);
    rope(qh, 3, layout);
    rope(kh, 7, layout);
    scores.push(qh.reduce((sum, v, i) => sum + v * kh[i]!, 0));
  }
  return scores;
}

describe('permuted weights compute the same attention', () => {
  it('adjacent-pair RoPE on llama2.c/GGUF weights equals half-split RoPE on the permuted weights', () => {
    const seed = 77;
    const [numHeads, numKvHeads, headDim, dim] = [4, 2, 6, 10];
    const rng = new SeededRandom(seed);
    const random = (n: number): Float32Array =>
      Float32Array.from({ length: n }, () => 2 * rng.nextFloat() - 1);
    const wq = random(numHeads * headDim * dim);
    const wk = random(numKvHeads * headDim * dim);
    const x = random(dim);
    const adjacent = attentionScores(wq, wk, x, numHeads, numKvHeads, headDim, 'adjacent');
    const wqHalf = permuteRopeRows(wq, [numHeads * headDim, dim], numHeads, 'adjacent', 'halfSplit');
    const wkHalf = permuteRopeRows(wk, [numKvHeads * headDim, dim], numKvHeads, 'adjacent', 'halfSplit');
    const halfSplit = attentionScores(wqHalf, wkHalf, x, numHeads, numKvHeads, headDim, 'halfSplit');
    halfSplit.forEach((score, h) => expect(score, `seed ${seed}, head ${h}`).toBeCloseTo(adjacent[h]!, 10));
    // Without the permutation the layouts disagree: the test can tell them apart.
    const unpermuted = attentionScores(wq, wk, x, numHeads, numKvHeads, headDim, 'halfSplit');
    expect(unpermuted.some((score, h) => Math.abs(score - adjacent[h]!) > 1e-3)).toBe(true);
  });
});
