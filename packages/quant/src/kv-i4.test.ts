import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from './half-float.js';
import { kvI4Groups, kvI4Scale, quantizeKvI4Row, roundTripKvI4 } from './kv-i4.js';

describe('int4 KV rows', () => {
  it('groups a row (a power of two from 8 to 256) into an even number of groups of at most 32', () => {
    expect([8, 16, 32, 64, 128, 256].map(kvI4Groups)).toEqual([2, 2, 2, 2, 4, 8]);
    expect([4, 12, 48, 72, 96, 512, 0, 6.5].map(kvI4Groups)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => roundTripKvI4(new Float32Array(72), 72)).toThrow(RangeError);
  });

  it('scales each group by its absmax / 7 to an exact f16 value and keeps every value within half a step', () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (const headDim of [8, 32, 64, 128]) {
      const groups = kvI4Groups(headDim);
      const size = headDim / groups;
      for (let r = 0; r < 50; r++) {
        const span = 10 ** (1 + 2 * rand());
        // Groups of different spans, so that a shared scale would fail the bound below.
        const x = Float32Array.from({ length: headDim }, (_, i) => span * (1 + Math.floor(i / size)) * rand());
        const q = new Int8Array(headDim);
        const scales = new Float32Array(groups);
        quantizeKvI4Row(x, q, scales);
        const back = roundTripKvI4(x, headDim);
        for (let g = 0; g < groups; g++) {
          const s = scales[g]!;
          expect(f16BitsToF32(f32ToF16Bits(s))).toBe(s);
          const group = x.subarray(g * size, (g + 1) * size);
          const absmax = Math.max(...group.map(Math.abs));
          expect(Math.abs(s - absmax / 7)).toBeLessThanOrEqual(absmax / 7 / 1024);
          for (let i = g * size; i < (g + 1) * size; i++) {
            expect(Math.abs(q[i]!)).toBeLessThanOrEqual(7);
            expect(back[i]).toBe(q[i]! * s);
            expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(s * 0.5 + absmax * 1e-3);
          }
        }
      }
    }
  });

  it('rounds exact halves to even, clamps to 7 and maps zeros and NaN to 0', () => {
    expect(kvI4Scale(7)).toBe(1);
    const q = new Int8Array(8);
    const scales = new Float32Array(2);
    // Group 0 (absmax 7, scale 1): halves to even; group 1 (absmax 0): the smallest scale, zeros.
    quantizeKvI4Row([7, 2.5, -2.5, Number.NaN, 0, 0, 0, 0], q, scales);
    expect([...q]).toEqual([7, 2, -2, 0, 0, 0, 0, 0]);
    expect(scales[0]).toBe(1);
    expect(roundTripKvI4(new Float32Array(16), 8)).toEqual(new Float32Array(16));
  });
});
