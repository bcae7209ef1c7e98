import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LlmError } from './llm-error.js';
import { quantizeKvI8Row } from './kv-i8.js';
import { inverseFactors, quantizeGroupsI8, quantizeRowsI8, smoothQuantFactors } from './w8a8.js';

describe('W8A8 rows and SmoothQuant factors', () => {
  it('quantizes each row of the column-scaled values as one int8 row', () => {
    const values = Float32Array.from([0.5, -2, 1, 3, -0.25, 8, 0, 1]);
    const factors = Float32Array.from([2, 0.5, 1, 4]);
    const { q, scales } = quantizeRowsI8(values, 2, 4, factors);
    for (let r = 0; r < 2; r++) {
      const row = Float32Array.from({ length: 4 }, (_, c) => Math.fround(values[r * 4 + c]! * factors[c]!));
      const want = new Int8Array(4);
      expect(scales[r]).toBe(quantizeKvI8Row(row, want));
      expect(Array.from(q.subarray(r * 4, r * 4 + 4))).toEqual(Array.from(want));
    }
    expect(() => quantizeRowsI8(values, 3, 4)).toThrow(LlmError);
  });

  it('quantizes activations per group of 32 as int8 KV rows of 32, with each group\'s sum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer(), (rows, groupsPerRow, seed) => {
        const cols = 32 * groupsPerRow;
        let s = seed >>> 0;
        const values = Float32Array.from({ length: rows * cols }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 20);
        const { q, scales, sums } = quantizeGroupsI8(values, rows, cols);
        for (let g = 0; g < rows * groupsPerRow; g++) {
          const want = new Int8Array(32);
          expect(scales[g]).toBe(quantizeKvI8Row(values.subarray(32 * g, 32 * g + 32), want));
          expect(Array.from(q.subarray(32 * g, 32 * g + 32))).toEqual(Array.from(want));
          expect(sums[g]).toBe(want.reduce((a, b) => a + b, 0));
        }
      }),
      { numRuns: 50 },
    );
    expect(() => quantizeGroupsI8(new Float32Array(48), 1, 48)).toThrow(LlmError);
  });

  it('evens out the channels: s_j = max|X_j|^a / max|W_j|^(1-a) leaves X_j / s_j the range (max|X_j| max|W_j|)^(1-a) and W_j s_j (..)^a', () => {
    fc.assert(
      fc.property(
        fc.float({ min: Math.fround(1e-3), max: 1e3, noNaN: true }),
        fc.float({ min: Math.fround(1e-3), max: 1e3, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (a, w, alpha) => {
          const [s] = smoothQuantFactors(Float32Array.of(a), Float32Array.of(w), alpha);
          const x = Math.fround(a);
          const v = Math.fround(w);
          // The factors are f32: within a few of its ulps.
          const close = (got: number, want: number) => expect(Math.abs(got / want - 1)).toBeLessThan(1e-6);
          close(x / s!, (x * v) ** (1 - alpha));
          close(v * s!, (x * v) ** alpha);
        },
      ),
    );
  });

  it('leaves channels without a range at 1 and refuses mismatched inputs', () => {
    expect(Array.from(smoothQuantFactors(Float32Array.of(0, 4, 1), Float32Array.of(1, 0, 1)))).toEqual([1, 1, 1]);
    expect(() => smoothQuantFactors(Float32Array.of(1), Float32Array.of(1, 2))).toThrow(LlmError);
    expect(() => smoothQuantFactors(Float32Array.of(1), Float32Array.of(1), 2)).toThrow(/alpha/);
    expect(Array.from(inverseFactors(Float32Array.of(4, 0.5)))).toEqual([0.25, 2]);
  });
});
