import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from './half-float.js';
import { dequantizeKvI8Row, kvI8Scale, quantizeKvI8Row, roundTripKvI8 } from './kv-i8.js';

describe('int8 KV rows', () => {
  it('scales by absmax / 127 to an exact f16 value and keeps every value within half a step', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (let r = 0; r < 200; r++) {
      // Spans whose scale is a normal f16 (absmax above 127 * 2^-14).
      const span = 10 ** (1 + 2 * rand());
      const x = Float32Array.from({ length: 64 }, () => span * rand());
      const q = new Int8Array(64);
      const s = quantizeKvI8Row(x, q);
      expect(f16BitsToF32(f32ToF16Bits(s))).toBe(s);
      const absmax = Math.max(...x.map(Math.abs));
      expect(Math.abs(s - absmax / 127)).toBeLessThanOrEqual(absmax / 127 / 1024);
      const back = new Float32Array(64);
      dequantizeKvI8Row(q, s, back);
      for (let i = 0; i < 64; i++) {
        expect(Math.abs(q[i]!)).toBeLessThanOrEqual(127);
        expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(s * 0.5 + absmax * 1e-3);
      }
    }
  });

  it('rounds exact halves to even and maps an all-zero row to zeros', () => {
    const s = kvI8Scale(127);
    expect(s).toBe(1);
    const q = new Int8Array(5);
    quantizeKvI8Row([127, 2.5, -2.5, 3.5, -0.5], q);
    expect([...q]).toEqual([127, 2, -2, 4, 0]);
    expect(roundTripKvI8(new Float32Array(8), 4)).toEqual(new Float32Array(8));
  });
});
