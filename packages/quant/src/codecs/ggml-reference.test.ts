import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { elementType, type ElementTypeName } from '../element-types.js';
import { BLOCK_DTYPES, isOneOf } from '../dtype-sets.js';
import { blockCodecTypes, dequantize, quantizableTypes, quantize } from './block-codecs.js';

// Bit-exact parity with ggml. The fixtures (fixtures/*.json) hold what ggml's own
// quantize_row_*_ref and dequantize_row_* produce, checked there against gguf-py, for the inputs
// generated below; scripts/make-codec-fixtures.py generates the same inputs in Python and
// rewrites the fixtures. Every step of the generator is exact in f64, so both sides agree.

interface Fixture {
  type: ElementTypeName;
  quantized: Record<string, string>;
  dequantized: string;
}

const distributions = ['normal', 'uniform', 'outliers', 'tiny', 'zeros', 'positive', 'large'] as const;
type Distribution = (typeof distributions)[number];

class XorShift32 {
  constructor(private state: number) {
    this.state >>>= 0;
  }
  next(): number {
    let s = this.state;
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    this.state = s;
    return s;
  }
  uniform(): number {
    return (this.next() >>> 8) / 16777216;
  }
  /** Irwin-Hall: twelve uniforms, mean 0, variance 1, within +-6. */
  normal(): number {
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += this.uniform();
    return sum - 6;
  }
}

function blockCount(blockSize: number): number {
  return blockSize === 32 ? 8 : 4;
}

function makeInput(distribution: Distribution, count: number, blockSize: number): Float32Array {
  const rng = new XorShift32(0x9e3779b9 ^ (distributions.indexOf(distribution) * 0x85ebca6b));
  const v = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let x: number;
    switch (distribution) {
      case 'normal':
        x = rng.normal() * 0.02;
        break;
      case 'uniform':
        x = rng.uniform() * 3 - 1.5;
        break;
      case 'outliers':
        x = rng.normal() * 0.05;
        if (i % 37 === 5) x *= 40;
        break;
      case 'tiny':
        x = rng.normal() * 2 ** -18;
        break;
      case 'zeros':
        x = rng.normal() * 0.1;
        if (i % 5 === 0) x = 0;
        break;
      case 'positive':
        x = rng.uniform() * 3 + 1;
        break;
      case 'large':
        x = rng.normal() * 10000;
        break;
    }
    v[i] = x;
  }
  if (distribution === 'zeros') {
    v.fill(0.75, blockSize, 2 * blockSize);
    v.fill(0, 2 * blockSize, 3 * blockSize);
    v.fill(-0.3, 3 * blockSize, 4 * blockSize);
  }
  return v;
}

const halfScaleOffsets: Record<string, readonly number[]> = {
  q4_0: [0],
  q4_1: [0, 2],
  q5_0: [0],
  q5_1: [0, 2],
  q8_0: [0],
  q2_k: [80, 82],
  q3_k: [108],
  q4_k: [0, 2],
  q5_k: [0, 2],
  q6_k: [208],
};

/** Random bytes with every half scale made finite. */
function randomBlocks(name: ElementTypeName): Uint8Array {
  const { blockSize, bytesPerBlock } = elementType(name);
  const rng = new XorShift32(0x2545f491 ^ [...name].reduce((sum, c) => sum + c.charCodeAt(0), 0));
  const blocks = blockCount(blockSize);
  const data = new Uint8Array(blocks * bytesPerBlock);
  for (let i = 0; i < data.length; i++) data[i] = rng.next() & 0xff;
  for (let b = 0; b < blocks; b++) {
    for (const offset of halfScaleOffsets[name]!) {
      const o = b * bytesPerBlock + offset;
      if ((data[o + 1]! & 0x7c) === 0x7c) data[o + 1] = data[o + 1]! & ~0x40;
    }
  }
  return data;
}

function fixture(name: ElementTypeName): Fixture {
  return JSON.parse(readFileSync(new URL(`fixtures/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

function base64Bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

describe.each(blockCodecTypes.filter((name) => isOneOf(BLOCK_DTYPES, name)))('%s against ggml', (name) => {
  const expected = fixture(name);
  const { blockSize } = elementType(name);
  const count = blockCount(blockSize) * blockSize;

  it('dequantizes random blocks to the floats of dequantize_row, bit for bit', () => {
    const values = dequantize(name, randomBlocks(name), count);
    const want = new Uint32Array(base64Bytes(expected.dequantized).slice().buffer);
    expect([...new Uint32Array(values.buffer)]).toEqual([...want]);
  });

  it.runIf(quantizableTypes.includes(name)).each(distributions)(
    'quantizes %s values to the bytes of quantize_row_ref',
    (distribution) => {
      const input = makeInput(distribution, count, blockSize);
      expect(input.some((x) => x !== 0)).toBe(true);
      expect([...quantize(name, input)]).toEqual([...base64Bytes(expected.quantized[distribution]!)]);
    },
  );
});
