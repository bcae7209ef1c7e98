import { describe, expect, it } from 'vitest';
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
