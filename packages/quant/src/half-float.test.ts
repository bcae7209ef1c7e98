import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits, f16ArrayToF32, f32ArrayToF16 } from './half-float.js';

describe('half floats', () => {
  it('round-trips every finite half value exactly', () => {
    for (let bits = 0; bits < 65536; bits++) {
      const v = f16BitsToF32(bits);
      if (Number.isNaN(v)) {
        expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(v)))).toBe(true);
        continue;
      }
      expect(f32ToF16Bits(v)).toBe(bits);
    }
  });

  it('rounds to nearest even, saturates to infinity and keeps subnormals', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, even stays
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd rounds up
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(2 ** -24)).toBe(1);
    expect(f32ToF16Bits(2 ** -26)).toBe(0);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect([...f16ArrayToF32(f32ArrayToF16([0.5, -2, 1000]))]).toEqual([0.5, -2, 1000]);
  });
});
