import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { castTensor } from './tensor-cast.js';

const f32 = (...values: number[]): Float32Array => Float32Array.from(values);
const bits = (...values: number[]): Uint16Array => Uint16Array.from(values);
const isF16NaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

/** Every finite f16 value in increasing order, with its bits: the oracle for nearest-even rounding. */
const f16Table = (() => {
  const entries: Array<[value: number, bits: number]> = [];
  for (let h = 0; h < 0x7c00; h++) {
    const e = h >> 10;
    const m = h & 0x3ff;
    entries.push([e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15), h]);
  }
  return entries;
})();

/** f16 bits nearest to a non-negative finite double, ties to the even mantissa, by search rather than bit tricks. */
function nearestF16(x: number): number {
  let lo = 0;
  let hi = f16Table.length - 1;
  if (x >= 65520) return 0x7c00; // halfway between 65504 and 2^16 rounds up (to "even" 2^16 = inf)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (f16Table[mid]![0] <= x) lo = mid;
    else hi = mid;
  }
  const [a, aBits] = f16Table[lo]!;
  const [b, bBits] = f16Table[hi]!;
  if (x - a < b - x || x <= a) return aBits;
  if (x - a > b - x) return bBits;
  return (aBits & 1) === 0 ? aBits : bBits;
}

describe('castTensor', () => {
  it('rounds known f32 values to f16 correctly', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to 2^16: rounds to even, which overflows to infinity
      [1e6, 0x7c00],
      [2 ** -14, 0x0400], // smallest normal
      [(1023 / 1024) * 2 ** -14, 0x03ff], // largest subnormal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway between 0 and 2^-24: ties to even (zero)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 units: ties to even (2)
      [5 * 2 ** -25, 0x0002], // halfway between 2 and 3 units: ties to even (2)
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1+2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: even is 1+2^-9
      [1e-45, 0x0000], // f32 subnormal underflows
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    const out = castTensor(f32(...cases.map(([v]) => v)), 'f32', 'f16') as Uint16Array;
    cases.forEach(([value, expected], i) => expect(out[i], `${value}`).toBe(expected));
    expect(isF16NaN((castTensor(f32(NaN), 'f32', 'f16') as Uint16Array)[0]!)).toBe(true);
  });

  it('rounds known f32 values to bf16 correctly', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3f80],
      [1 + 2 ** -8, 0x3f80], // tie to even
      [1 + 3 * 2 ** -8, 0x3f82], // tie to even (up)
      [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [3.4028234663852886e38, 0x7f80], // f32 max rounds up to infinity
      [2 ** -133, 0x0001], // f32 subnormal stays a bf16 subnormal
      [-0, 0x8000],
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
    ];
    const out = castTensor(f32(...cases.map(([v]) => v)), 'f32', 'bf16') as Uint16Array;
    cases.forEach(([value, expected], i) => expect(out[i], `${value}`).toBe(expected));
    expect(isBf16NaN((castTensor(f32(NaN), 'f32', 'bf16') as Uint16Array)[0]!)).toBe(true);
  });

  it('converts between f16 and bf16 with one rounding', () => {
    // f16 → bf16: 65504 = 1.9990234375·2^15 needs more than bf16's 8 significant bits: rounds to 2^16.
    expect(castTensor(bits(0x3c00, 0x0001, 0x7bff, 0x7c00, 0xfc00, 0x8000), 'f16', 'bf16')).toEqual(
      bits(0x3f80, 0x3380, 0x4780, 0x7f80, 0xff80, 0x8000),
    );
    // bf16 → f16: beyond f16's range overflows, 2^-25 ties to zero, 1.5·2^-25 rounds up to 2^-24,
    // 1.5·2^-24 ties to the even 2·2^-24.
    expect(castTensor(bits(0x3f80, 0x7f7f, 0x3300, 0x3340, 0x33c0, 0x8000, 0xff80), 'bf16', 'f16')).toEqual(
      bits(0x3c00, 0x7c00, 0x0000, 0x0001, 0x0002, 0x8000, 0xfc00),
    );
    expect(isBf16NaN((castTensor(bits(0x7e00), 'f16', 'bf16') as Uint16Array)[0]!)).toBe(true);
    expect(isF16NaN((castTensor(bits(0x7fc1), 'bf16', 'f16') as Uint16Array)[0]!)).toBe(true);
  });

  it('widens every f16 and bf16 value exactly: narrowing back gives the same bits', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f16Back = castTensor(castTensor(all, 'f16', 'f32'), 'f32', 'f16') as Uint16Array;
    const bf16Wide = castTensor(all, 'bf16', 'f32') as Float32Array;
    const bf16Back = castTensor(bf16Wide, 'f32', 'bf16') as Uint16Array;
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      if (isF16NaN(h) ? !isF16NaN(f16Back[h]!) : f16Back[h] !== h) wrong.push(`f16 ${h.toString(16)}`);
      if (isBf16NaN(h) ? !isBf16NaN(bf16Back[h]!) : bf16Back[h] !== h) wrong.push(`bf16 ${h.toString(16)}`);
    }
    expect(wrong).toEqual([]);
    expect(new Uint32Array(bf16Wide.buffer)[0x3f80]).toBe(0x3f800000);
  });

  it('rounds random f32 values to the nearest f16, ties to even', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (value) => {
        const expected = (value < 0 || Object.is(value, -0) ? 0x8000 : 0) | nearestF16(Math.abs(value));
        expect((castTensor(f32(value), 'f32', 'f16') as Uint16Array)[0]).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses data whose array type contradicts its dtype', () => {
    expect(() => castTensor(new Uint16Array(2), 'f32', 'f16')).toThrow(TypeError);
    expect(() => castTensor(new Float32Array(2), 'bf16', 'f32')).toThrow(TypeError);
  });
});
