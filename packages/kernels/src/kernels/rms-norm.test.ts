import { describe, expect, it } from 'vitest';
import { quantizeGroupsI8 } from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonF32, randomFloats, relativeL2, seededRandom } from '../testing/index.js';
import { rmsNorm } from './rms-norm.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('rmsNorm', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it.each(
    (['row', 'workgroup'] as const).flatMap((kernel) => [
      { kernel, rows: 1, dim: 7, eps: 1e-5 },
      { kernel, rows: 3, dim: 1001, eps: 1e-6 },
      { kernel, rows: 17, dim: 288, eps: 1e-5 },
      { kernel, rows: 613, dim: 768, eps: 1e-5 },
    ]),
  )('matches the f64 reference for %o', async ({ kernel, rows, dim, eps }) => {
    const rand = seededRandom(seed);
    const x = randomFloats(rand, rows * dim, -3, 3);
    const weight = randomFloats(rand, dim, 0.5, 1.5);
    const xb = ctx.upload(x, 'x');
    const wb = ctx.upload(weight, 'weight');
    const out = ctx.upload(poisonF32(rows * dim), 'out');
    const rec = ctx.recorder();
    rmsNorm(rec, { x: xb, weight: wb, out, rows, dim, eps, kernel });
    rec.submit();
    const got = new Float32Array(await ctx.read(out, 0, rows * dim * 4));
    const err = relativeL2(got, reference.rmsNorm({ x, weight, rows, dim, eps }));
    expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-6);
  });

  it('also writes its input times the weight as int8 groups with their sums of squares of x (the scale deferred)', async () => {
    const rand = seededRandom(seed + 1);
    const rows = 5;
    const dim = 96;
    const x = randomFloats(rand, rows * dim, -3, 3);
    // One row of zeros: its groups take the smallest scale and quantize to 0.
    x.fill(0, 2 * dim, 3 * dim);
    const weight = randomFloats(rand, dim, 0.5, 1.5);
    const out = ctx.upload(poisonF32(rows * dim), 'out');
    const xq = ctx.upload(new Int32Array(rows * dim).fill(-999), 'xq');
    const xg = ctx.upload(poisonF32((rows * dim) / 16), 'xg');
    const sums = ctx.upload(poisonF32((rows * dim) / 32), 'sums');
    const rec = ctx.recorder();
    const args = { x: ctx.upload(x, 'x'), weight: ctx.upload(weight, 'weight'), out, rows, dim, eps: 1e-5 };
    rmsNorm(rec, { ...args, int8: { xq, xg, sums } });
    rec.submit();
    const normed = new Float32Array(await ctx.read(out, 0, rows * dim * 4));
    expect(relativeL2(normed, reference.rmsNorm({ x, weight, rows, dim, eps: 1e-5 }))).toBeLessThan(1e-6);
    const scaled = x.map((v, i) => Math.fround(v * weight[i % dim]!));
    const want = quantizeGroupsI8(scaled, rows, dim);
    expect(Array.from(new Int32Array(await ctx.read(xq, 0, rows * dim * 4))), `seed ${seed + 1}`).toEqual(Array.from(want.q));
    const pairs = new Float32Array(await ctx.read(xg, 0, (rows * dim * 8) / 32));
    expect(Array.from(pairs.filter((_, i) => i % 2 === 0))).toEqual(Array.from(want.scales));
    expect(Array.from(pairs.filter((_, i) => i % 2 === 1))).toEqual(Array.from(want.sums));
    const gotSums = new Float32Array(await ctx.read(sums, 0, (rows * dim * 4) / 32));
    const wantSums = Float64Array.from({ length: (rows * dim) / 32 }, (_, g) => x.subarray(32 * g, 32 * g + 32).reduce((a, v) => a + v * v, 0));
    expect(relativeL2(gotSums, wantSums)).toBeLessThan(1e-6);
    expect(() => rmsNorm(ctx.recorder(), { ...args, dim: 48, rows: 10, int8: { xq, xg, sums } })).toThrow(KernelShapeError);
  });

  it('rejects a weight shorter than dim', () => {
    const rec = ctx.recorder();
    const x = ctx.createBuffer(64 * 4, 'x');
    expect(() =>
      rmsNorm(rec, {
        x,
        weight: ctx.createBuffer(16, 'w'),
        out: ctx.createBuffer(64 * 4, 'o'),
        rows: 1,
        dim: 64,
        eps: 1e-5,
      }),
    ).toThrow(KernelShapeError);
  });
});
