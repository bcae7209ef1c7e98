import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GROUP_DTYPES } from '../dtype-sets.js';
import { elementType, elementTypes, type ElementTypeName } from '../element-types.js';
import { f32ToF16Bits } from '../half-float.js';
import { errorCodeOf } from '../llm-error.js';
import { blockCodec, blockCodecTypes, dequantize, quantizableTypes, quantize } from './block-codecs.js';

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return errorCodeOf(error);
  }
  return 'no error';
}

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

/** Deterministic values of varied magnitude, never all zero. */
function wave(count: number, scale = 1, phase = 0): Float32Array {
  return Float32Array.from(
    { length: count },
    (_, i) => scale * Math.sin(0.37 * i + phase) * (1 + (i % 7) / 3),
  );
}

function absMax(values: Float32Array): number {
  return values.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

describe('the codec registry', () => {
  it('has a codec for every format ggml quantizes and every group type, and quantizes all of them', () => {
    expect(blockCodecTypes).toEqual([
      'q4_0',
      'q4_1',
      'q5_0',
      'q5_1',
      'q8_0',
      'q2_k',
      'q3_k',
      'q4_k',
      'q5_k',
      'q6_k',
      ...GROUP_DTYPES,
    ]);
    expect(quantizableTypes).toEqual(blockCodecTypes);
    for (const name of blockCodecTypes) {
      expect(blockCodec(name).type).toBe(elementType(name));
      expect(blockCodec(name).type.kind).toBe('quantized');
    }
  });

  it('refuses a known type without a codec as unsupported, naming the types that have one', () => {
    for (const name of ['f16', 'iq2_xxs', 'q8_1', 'mxfp4'] as const) {
      expect(codeOf(() => blockCodec(name))).toBe('unsupported');
      expect(codeOf(() => quantize(name, wave(256)))).toBe('unsupported');
    }
    expect(messageOf(() => blockCodec('iq4_xs'))).toContain(
      'q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k',
    );
    expect(elementTypes.filter((t) => t.kind === 'quantized').length).toBeGreaterThan(blockCodecTypes.length);
  });

  it('refuses an unknown type name as invalid_argument', () => {
    expect(codeOf(() => blockCodec('q9_0'))).toBe('invalid_argument');
  });

  it('refuses lengths that are not whole blocks, or bytes that do not match the element count', () => {
    expect(codeOf(() => quantize('q8_0', wave(33)))).toBe('invalid_argument');
    expect(codeOf(() => quantize('q4_k', wave(128)))).toBe('invalid_argument');
    expect(codeOf(() => dequantize('q8_0', new Uint8Array(34).fill(1), 31))).toBe('invalid_argument');
    expect(codeOf(() => dequantize('q8_0', new Uint8Array(35).fill(1), 32))).toBe('invalid_argument');
    expect(
      codeOf(() => blockCodec('q6_k').dequantize(new Uint8Array(210).fill(1), new Float32Array(255))),
    ).toBe('invalid_argument');
    expect(codeOf(() => blockCodec('q4_0').quantize!(wave(64), new Uint8Array(35)))).toBe('invalid_argument');
  });
});

describe.each(quantizableTypes)('%s', (name) => {
  const { blockSize, bytesPerBlock } = elementType(name);

  it.each([1, 3, 7])('codes %i blocks as each block alone', (blocks) => {
    const values = wave(blocks * blockSize, 0.05, blocks);
    const bytes = quantize(name, values);
    expect(bytes.length).toBe(blocks * bytesPerBlock);
    const decoded = dequantize(name, bytes, values.length);
    expect(decoded.length).toBe(values.length);
    for (let b = 0; b < blocks; b++) {
      const one = values.slice(b * blockSize, (b + 1) * blockSize);
      const oneBytes = quantize(name, one);
      expect([...bytes.subarray(b * bytesPerBlock, (b + 1) * bytesPerBlock)]).toEqual([...oneBytes]);
      expect([...decoded.subarray(b * blockSize, (b + 1) * blockSize)]).toEqual([
        ...dequantize(name, oneBytes, blockSize),
      ]);
    }
  });

  it('overwrites whatever the output held', () => {
    const values = wave(blockSize, 3);
    const out = new Uint8Array(bytesPerBlock).fill(0xff);
    blockCodec(name).quantize!(values, out);
    expect([...out]).toEqual([...quantize(name, values)]);
  });

  it('refuses NaN and infinite values as invalid_argument, naming the value', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const values = wave(blockSize);
      values[5] = bad;
      expect(codeOf(() => quantize(name, values))).toBe('invalid_argument');
      expect(messageOf(() => quantize(name, values))).toContain(`value 5 is ${bad}`);
    }
  });

  it('quantizes the largest halves, +-65504, to finite values near them', () => {
    const values = wave(blockSize, 1000);
    for (let i = 0; i < blockSize; i += 9) values[i] = i % 2 === 0 ? 65504 : -65504;
    const decoded = dequantize(name, quantize(name, values), blockSize);
    expect(decoded.every(Number.isFinite)).toBe(true);
    // 2-bit groups have 3 steps over the range: half of one is a third of the largest value.
    const bound = 65504 * Math.max(0.2, maxErrorBounds[name] ?? 0);
    expect(Math.abs(decoded[0]! - 65504)).toBeLessThan(bound);
    expect(Math.abs(decoded[9]! + 65504)).toBeLessThan(bound);
  });

  it('quantizes subnormal f32 values to finite values within 1e-30 of them', () => {
    const values = wave(blockSize, 1e-39);
    expect(values.some((x) => x !== 0)).toBe(true);
    const decoded = dequantize(name, quantize(name, values), blockSize);
    for (let i = 0; i < blockSize; i++) expect(Math.abs(decoded[i]! - values[i]!)).toBeLessThan(1e-30);
  });
});

describe('scales past the half range', () => {
  it('are refused as invalid_argument rather than stored as infinity', () => {
    const big = wave(32, 1e7);
    expect(codeOf(() => quantize('q8_0', big))).toBe('invalid_argument');
    expect(messageOf(() => quantize('q8_0', big))).toContain('does not fit a half');
    // Q4_1 stores the block minimum itself as a half.
    const shifted = wave(32, 1).map((x) => x - 70000);
    expect(codeOf(() => quantize('q4_1', shifted))).toBe('invalid_argument');
  });
});

describe('decoding extreme scales', () => {
  function q8Block(dBits: number, qs: readonly number[]): Uint8Array {
    const block = new Uint8Array(34);
    block[0] = dBits & 0xff;
    block[1] = dBits >> 8;
    qs.forEach((q, j) => (block[2 + j] = q & 0xff));
    return block;
  }

  it('multiplies levels by the largest half, 65504, exactly', () => {
    const qs = Array.from({ length: 32 }, (_, j) => (j === 0 ? -128 : j === 1 ? 127 : j - 16));
    const decoded = dequantize('q8_0', q8Block(0x7bff, qs), 32);
    expect(decoded[0]).toBe(-128 * 65504);
    expect(decoded[1]).toBe(127 * 65504);
    expect(decoded[2]).toBe(-14 * 65504);
  });

  it('multiplies levels by a subnormal half exactly', () => {
    const qs = Array.from({ length: 32 }, (_, j) => j - 16);
    const decoded = dequantize('q8_0', q8Block(0x0003, qs), 32);
    for (let j = 0; j < 32; j++) expect(decoded[j]).toBe((j - 16) * 3 * 2 ** -24);
  });

  it('reads Q6_K super-block scales of -65504 with int8 group scales of -128', () => {
    const block = new Uint8Array(210).fill(0x11);
    block.fill(0x80, 192, 208);
    const dBits = f32ToF16Bits(-65504);
    block[208] = dBits & 0xff;
    block[209] = dBits >> 8;
    const decoded = dequantize('q6_k', block, 256);
    // q = 0x1 | (1 << 4) = 17 for element 0: (17 - 32) * -128 * -65504.
    expect(decoded[0]).toBe(Math.fround(-65504 * -128) * (17 - 32));
    expect(decoded.every(Number.isFinite)).toBe(true);
  });
});

// Error of a round trip relative to the block's largest magnitude. For the legacy formats the
// bounds follow from the format: half a step, plus the step rounded to a half (2^-11 relative) over
// the largest level, plus Q4_0's and Q5_0's clamp of +8 / +16 steps to +7 / +15. The K-quants
// search their scales, so their bounds on the RMSE are the worst seen over thousands of inputs
// (fast-check's edge-heavy floats and Gaussian blocks) with a margin.
const maxErrorBounds: Partial<Record<ElementTypeName, number>> = {
  q8_0: 0.5 / 127 + 2 ** -11,
  q4_0: 1 / 8 + 2 ** -8,
  q5_0: 1 / 16 + 2 ** -9,
  q4_1: 1 / 15 + 3 * 2 ** -11,
  q5_1: 1 / 31 + 3 * 2 ** -11,
  // Group types: half a step of a range widened to hold 0 (at most 2 amax), plus a step lost when
  // the zero and the top level both round up and the level clamps (5% covers both).
  ...Object.fromEntries(GROUP_DTYPES.map((name) => [name, 1.05 / (2 ** Number(name[1]) - 1)])),
};
const rmseBounds: Partial<Record<ElementTypeName, number>> = {
  q2_k: 0.28,
  q3_k: 0.1,
  q4_k: 0.045,
  q5_k: 0.023,
  q6_k: 0.011,
};

describe.each(quantizableTypes)('%s round trip', (name) => {
  const { blockSize } = elementType(name);
  const block = fc
    .float32Array({
      minLength: blockSize,
      maxLength: blockSize,
      noNaN: true,
      noDefaultInfinity: true,
      min: -1000,
      max: 1000,
    })
    .filter((x) => absMax(x) >= 1e-3);

  it('stays within the format’s error bound', () => {
    fc.assert(
      fc.property(block, (values) => {
        const decoded = dequantize(name, quantize(name, values), blockSize);
        const amax = absMax(values);
        let maxError = 0;
        let squares = 0;
        for (let i = 0; i < blockSize; i++) {
          const error = Math.abs(decoded[i]! - values[i]!);
          maxError = Math.max(maxError, error);
          squares += error * error;
        }
        const maxBound = maxErrorBounds[name];
        if (maxBound !== undefined) expect(maxError).toBeLessThanOrEqual(amax * maxBound);
        const rmseBound = rmseBounds[name];
        if (rmseBound !== undefined)
          expect(Math.sqrt(squares / blockSize)).toBeLessThanOrEqual(amax * rmseBound);
      }),
      { numRuns: blockSize === 32 ? 200 : 60 },
    );
  });
});

// Q8_0, Q4_0 and Q5_0 put the value of largest magnitude on the extreme level, so a decoded block
// has the same scale and requantizes to the same bytes (unless the scale underflowed to zero).
// The Q4_1/Q5_1 scale is recomputed from a sum that rounds, and the K-quants search their scales
// again, so for them ggml guarantees no such fixed point and none is asserted.
describe.each(['q8_0', 'q4_0', 'q5_0'] as const)('%s requantization', (name) => {
  it('gives back the bytes of a quantized block', () => {
    const values = fc.float32Array({
      minLength: 32,
      maxLength: 32,
      noNaN: true,
      noDefaultInfinity: true,
      min: -1e4,
      max: 1e4,
    });
    fc.assert(
      fc.property(values, (x) => {
        const bytes = quantize(name, x);
        // The f16 scale underflowed to zero: +0, or -0 (0x8000) when the extreme value was positive.
        fc.pre(bytes[0] !== 0 || (bytes[1]! & 0x7f) !== 0);
        expect([...quantize(name, dequantize(name, bytes, 32))]).toEqual([...bytes]);
      }),
      { numRuns: 300 },
    );
  });
});
