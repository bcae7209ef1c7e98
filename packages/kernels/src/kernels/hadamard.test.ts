import { describe, expect, it } from 'vitest';
import { hadamardTransform } from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
import { gpuForTests, randomFloats, seededRandom } from '../testing/index.js';
import { hadamardRows } from './hadamard.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('hadamardRows', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // Rows inside wider rows (a fused QKV output's K), the values around them left as they were.
  it.each([
    [8, 3, 5, 1],
    [64, 2, 7, 1 / 64],
    [128, 4, 3, 1],
    [256, 1, 2, 1 / 256],
  ])('transforms rows of %i values (%i heads, %i tokens, scale %f) bit for bit as the CPU does', async (dim, heads, tokens, scale) => {
    const rand = seededRandom(seed + dim);
    const offset = 3;
    const stride = heads * dim + 5 + offset;
    const x = randomFloats(rand, tokens * stride, -4, 4);
    const buffer = ctx.upload(x, 'x');
    const rec = ctx.recorder();
    hadamardRows(rec, { x: buffer, tokens, heads, dim, stride, offset, scale });
    const read = rec.read(buffer);
    rec.submit();
    const got = new Float32Array(await read);
    const want = x.slice();
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < heads; h++) hadamardTransform(want, t * stride + offset + h * dim, dim, scale);
    }
    expect(got).toEqual(want);
    buffer.destroy();
  });

  it('leaves a dot product unchanged when one side is scaled by 1 / dim', () => {
    const rand = seededRandom(seed);
    const q = randomFloats(rand, 64);
    const k = randomFloats(rand, 64);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
    const before = dot(q, k);
    hadamardTransform(q, 0, 64, 1 / 64);
    hadamardTransform(k, 0, 64);
    expect(dot(q, k)).toBeCloseTo(before, 4);
  });

  it('rejects a dim that is not a power of two up to 256, and rows past the buffer', () => {
    const x = ctx.createBuffer(4096, 'x');
    const rec = ctx.recorder();
    expect(() => hadamardRows(rec, { x, tokens: 1, heads: 1, dim: 12 })).toThrow(/power of two/);
    expect(() => hadamardRows(rec, { x, tokens: 1, heads: 1, dim: 512 })).toThrow(KernelShapeError);
    expect(() => hadamardRows(rec, { x, tokens: 9, heads: 1, dim: 128 })).toThrow(KernelShapeError);
    x.destroy();
  });
});
