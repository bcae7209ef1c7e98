import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ArrayToF16, f32ToBf16Bits, f32ToF16Bits } from './half-float.js';

describe('half-float conversions', () => {
  it('round-trips every f16 bit pattern through f32 (NaNs stay NaN)', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = f16BitsToF32(bits);
      const back = f32ToF16Bits(value);
      if (Number.isNaN(value) ? !Number.isNaN(f16BitsToF32(back)) : back !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest, ties to even, across normals and subnormals', () => {
    // Midway between 1 and 1 + 2^-10 rounds down to the even mantissa; just above rounds up.
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Smallest subnormal is 2^-24; half of it ties to zero, a little more rounds up.
    expect(f32ToF16Bits(2 ** -25)).toBe(0);
    expect(f32ToF16Bits(2 ** -25 * 1.01)).toBe(1);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(2);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(1e9)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
  });

  it('converts arrays like the scalar path', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 1.37) * 10 ** ((i % 9) - 5));
    const bits = f32ArrayToF16(values);
    expect(Array.from(bits)).toEqual(Array.from(values, f32ToF16Bits));
  });

  it('rounds bf16 to nearest even and keeps NaN', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(Number.NaN)))).toBe(true);
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = bf16BitsToF32(bits);
      if (!Number.isNaN(v) && f32ToBf16Bits(v) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });
});
