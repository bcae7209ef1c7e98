import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import { f16ArrayToF32, f32ArrayToF16 } from '@llm/quant';
import * as reference from '../reference/index.js';
import {
  extraGpuForTests,
  gpuForTests,
  poisonF32,
  randomFloats,
  relativeL2,
  seededRandom,
} from '../testing/index.js';
import { linear } from './linear.js';
import { uploadMatrix } from './matrix.js';
import type { MatvecShape } from './linear.wgsl.js';
import type { GpuDtype } from '@llm/quant';

const gpu = await gpuForTests();
// The portable f16 path (halves unpacked from u32), on an adapter that also has shader-f16.
const portable = gpu?.features.shaderF16
  ? await extraGpuForTests({ disableFeatures: ['shaderF16'] })
  : undefined;

interface Case {
  m: number;
  n: number;
  k: number;
  dtype: GpuDtype;
  bias?: boolean;
  residual?: boolean;
  maxPartBytes?: number;
  matvecShape?: MatvecShape;
  path?: 'matvec' | 'matmul';
  f16Native?: boolean;
}

async function check(ctx: GpuContext, c: Case, seed: number): Promise<void> {
  const rand = seededRandom(seed);
  const x = randomFloats(rand, c.m * c.k);
  let w = randomFloats(rand, c.n * c.k);
  // f16 weights: the reference multiplies by the same rounded values the GPU reads.
  if (c.dtype === 'f16') w = f16ArrayToF32(f32ArrayToF16(w));
  const bias = c.bias ? randomFloats(rand, c.n) : undefined;
  const residual = c.residual ? randomFloats(rand, c.m * c.n) : undefined;
  const matrix = uploadMatrix(
    ctx,
    c.dtype === 'f16' ? f32ArrayToF16(w) : w,
    c.n,
    c.k,
    c.dtype,
    c.maxPartBytes ? { maxPartBytes: c.maxPartBytes } : {},
  );
  const xb = ctx.upload(x, 'x');
  const out = ctx.upload(poisonF32(c.m * c.n), 'out');
  const biasB = bias && ctx.upload(bias, 'bias');
  const resB = residual && ctx.upload(residual, 'residual');
  const rec = ctx.recorder();
  linear(rec, {
    x: xb,
    w: matrix,
    out,
    m: c.m,
    bias: biasB,
    residual: resB,
    matvecShape: c.matvecShape,
    path: c.path,
  });
  rec.submit();
  const got = new Float32Array(await ctx.read(out, 0, c.m * c.n * 4));
  const want = reference.linear({ x, w, m: c.m, n: c.n, k: c.k, bias, residual });
  const err = relativeL2(got, want);
  expect(err, `seed ${seed}, ${JSON.stringify(c)}: relative L2 ${err}`).toBeLessThan(1e-5);
  for (const b of [xb, out, biasB, resB]) b?.destroy();
  matrix.destroy();
}

describe.skipIf(!gpu)('linear', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // Each distinct variant (dtype, bias/residual, rows, path) costs a shader compile, which is
  // slow on a CPU adapter, so the cases share variants where they can.
  it.each<Case>([
    { m: 1, n: 37, k: 53, dtype: 'f32' },
    { m: 1, n: 256, k: 128, dtype: 'f32' },
    { m: 3, n: 130, k: 100, dtype: 'f32', bias: true, residual: true },
    { m: 20, n: 67, k: 9, dtype: 'f32', bias: true, residual: true },
    { m: 128, n: 200, k: 67, dtype: 'f32', bias: true, residual: true, path: 'matvec' },
    { m: 70, n: 75, k: 33, dtype: 'f32', bias: true, residual: true, path: 'matmul' },
    { m: 1, n: 99, k: 61, dtype: 'f16' },
    { m: 6, n: 99, k: 72, dtype: 'f16', bias: true, residual: true },
    { m: 65, n: 33, k: 47, dtype: 'f16', bias: true, residual: true, path: 'matmul' },
  ])('matches the f64 reference: %o', async (c) => {
    await check(ctx, c, seed);
  });

  it('splits a matrix over the binding limit into column parts transparently', async () => {
    // 4 KiB parts: a 45x50 f32 matrix becomes 3 parts of 20, 20 and 5 columns.
    for (const c of [
      { m: 3, n: 45, k: 50, dtype: 'f32', bias: true, residual: true, maxPartBytes: 4096 },
      { m: 20, n: 45, k: 50, dtype: 'f32', bias: true, residual: true, maxPartBytes: 4096 },
      { m: 1, n: 45, k: 50, dtype: 'f16', maxPartBytes: 2048 },
    ] as const) {
      await check(ctx, c, seed + 1);
    }
    const m = uploadMatrix(ctx, new Float32Array(45 * 50).fill(1), 45, 50, 'f32', { maxPartBytes: 4096 });
    expect(m.parts.map((p) => p.cols)).toEqual([16, 16, 13]);
    m.destroy();
  });

  // Only where the limit is small enough to exceed cheaply (lavapipe: 128 MiB).
  it.skipIf(!gpu || gpu.limits.maxStorageBufferBindingSize > 256 * 2 ** 20)(
    'splits a weight larger than maxStorageBufferBindingSize at the device limit',
    async () => {
      const k = 2048;
      const n = Math.floor(ctx.limits.maxStorageBufferBindingSize / (k * 4)) + 37;
      const rand = seededRandom(seed + 3);
      const w = randomFloats(rand, n * k);
      const x = randomFloats(rand, 2 * k);
      const matrix = uploadMatrix(ctx, w, n, k, 'f32');
      expect(matrix.parts.length).toBe(2);
      for (const part of matrix.parts)
        expect(part.buffer.size).toBeLessThanOrEqual(ctx.limits.maxStorageBufferBindingSize);
      const out = ctx.upload(poisonF32(2 * n), 'out');
      const rec = ctx.recorder();
      linear(rec, { x: ctx.upload(x, 'x'), w: matrix, out, m: 2 });
      rec.submit();
      const got = new Float32Array(await ctx.read(out, 0, 2 * n * 4));
      matrix.destroy();
      const err = relativeL2(got, reference.linear({ x, w, m: 2, n, k }));
      expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-5);
    },
  );

  it('splits K across invocations of a workgroup (the GPU shape) with the same result', async () => {
    for (const c of [
      {
        m: 2,
        n: 200,
        k: 131,
        dtype: 'f32',
        bias: true,
        residual: true,
        matvecShape: { columnGroups: 16, kSlices: 16, xSubgroup: 0 },
      },
      { m: 1, n: 45, k: 9, dtype: 'f16', matvecShape: { columnGroups: 8, kSlices: 4, xSubgroup: 0 } },
    ] as const) {
      await check(ctx, c, seed + 2);
    }
  });

  it.skipIf(!gpu?.features.shaderF16)('reads f16 weights as native f16 with shader-f16', async () => {
    await check(ctx, { m: 1, n: 77, k: 41, dtype: 'f16', f16Native: true }, seed);
    await check(ctx, { m: 40, n: 77, k: 41, dtype: 'f16', f16Native: true, path: 'matmul' }, seed);
  });

  it.skipIf(!portable)('reads f16 weights without shader-f16', async () => {
    await check(portable!, { m: 1, n: 77, k: 41, dtype: 'f16' }, seed);
    await check(portable!, { m: 4, n: 77, k: 41, dtype: 'f16' }, seed);
  });

  it('rejects shapes that do not fit with KernelShapeError', () => {
    const w = uploadMatrix(ctx, new Float32Array(8 * 4).fill(0.5), 8, 4, 'f32');
    const x = ctx.createBuffer(4 * 4 * 2, 'x');
    const out = ctx.createBuffer(8 * 4 * 2, 'out');
    const rec = ctx.recorder();
    expect(() => linear(rec, { x, w, out, m: 3 })).toThrow(KernelShapeError);
    expect(() => linear(rec, { x, w, out: x, m: 1 })).toThrow(/same buffer/);
    expect(() => linear(rec, { x, w, out, m: 0 })).toThrow(KernelShapeError);
    expect(() => uploadMatrix(ctx, new Float32Array(5), 2, 3, 'f32')).toThrow(KernelShapeError);
    w.destroy();
  });
});
