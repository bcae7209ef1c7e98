import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonF32, randomFloats, relativeL2, seededRandom } from '../testing/index.js';
import { add } from './add.js';
import { gatherRows } from './gather-rows.js';
import { siluMul } from './silu-mul.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('elementwise kernels', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it('siluMul matches the reference, with gate and up from one fused row', async () => {
    const rand = seededRandom(seed);
    for (const [tokens, hidden] of [
      [1, 5],
      [7, 333],
    ] as const) {
      const gateUp = randomFloats(rand, tokens * 2 * hidden, -12, 12);
      gateUp[0] = -200; // e^200 overflows f32: silu must give -0, not NaN
      const gb = ctx.upload(gateUp, 'gateUp');
      const out = ctx.upload(poisonF32(tokens * hidden), 'out');
      const rec = ctx.recorder();
      siluMul(rec, { gateUp: gb, out, tokens, hidden });
      rec.submit();
      const got = new Float32Array(await ctx.read(out, 0, tokens * hidden * 4));
      const err = relativeL2(got, reference.siluMul({ gateUp, tokens, hidden }));
      expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-6);
    }
  });

  it('add sums elementwise over a length that is not a multiple of the workgroup', async () => {
    const rand = seededRandom(seed + 1);
    const length = 1000;
    const a = randomFloats(rand, length);
    const b = randomFloats(rand, length);
    const out = ctx.upload(poisonF32(length), 'out');
    const rec = ctx.recorder();
    add(rec, { a: ctx.upload(a, 'a'), b: ctx.upload(b, 'b'), out, length });
    rec.submit();
    expect(new Float32Array(await ctx.read(out, 0, length * 4))).toEqual(reference.add(a, b));
  });

  it('gatherRows copies the chosen rows and marks out-of-range indices with NaN', async () => {
    const rand = seededRandom(seed + 2);
    const srcRows = 9;
    const dim = 13;
    const src = randomFloats(rand, srcRows * dim);
    const rows = new Uint32Array([8, 0, 3, 3, 42]);
    const out = ctx.upload(poisonF32(rows.length * dim), 'out');
    const rec = ctx.recorder();
    gatherRows(rec, {
      src: ctx.upload(src, 'src'),
      rows: ctx.upload(rows, 'rows'),
      out,
      srcRows,
      count: rows.length,
      dim,
    });
    rec.submit();
    const got = new Float32Array(await ctx.read(out, 0, rows.length * dim * 4));
    expect(got).toEqual(reference.gatherRows(src, rows, dim));
    expect(got.subarray(4 * dim).every(Number.isNaN)).toBe(true);
  });

  it('rejects an output that aliases an input', () => {
    const a = ctx.createBuffer(64, 'a');
    expect(() => add(ctx.recorder(), { a, b: ctx.createBuffer(64, 'b'), out: a, length: 16 })).toThrow(
      KernelShapeError,
    );
  });
});
