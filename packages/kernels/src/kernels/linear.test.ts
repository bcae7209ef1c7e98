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
import type { LinearKernelKind } from './linear.js';
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
  kernel?: LinearKernelKind;
  streamShape?: { rows: number; tokens: number };
  /** Outputs [0, split) to out and the rest to a second buffer. */
  split?: number;
  /** Rows are (gate, up) pairs: out = silu(gate) * up. */
  glu?: boolean;
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
  const outCols = c.glu ? c.n / 2 : (c.split ?? c.n);
  const out = ctx.upload(poisonF32(c.m * outCols), 'out');
  const out2 = c.split ? ctx.upload(poisonF32(c.m * (c.n - c.split)), 'out2') : undefined;
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
    kernel: c.kernel,
    streamShape: c.streamShape,
    split: c.split && out2 ? { at: c.split, out: out2 } : undefined,
    glu: c.glu,
  });
  rec.submit();
  const full = reference.linear({ x, w, m: c.m, n: c.n, k: c.k, bias, residual });
  let got: Float32Array;
  let want: Float32Array;
  if (c.glu) {
    got = new Float32Array(await ctx.read(out, 0, c.m * outCols * 4));
    want = new Float32Array(c.m * outCols);
    for (let t = 0; t < c.m; t++) {
      for (let i = 0; i < outCols; i++) {
        const gate = full[t * c.n + 2 * i]!;
        want[t * outCols + i] = (gate / (1 + Math.exp(-gate))) * full[t * c.n + 2 * i + 1]!;
      }
    }
  } else if (c.split && out2) {
    // Both outputs side by side again, in the reference's layout.
    const a = new Float32Array(await ctx.read(out, 0, c.m * c.split * 4));
    const b = new Float32Array(await ctx.read(out2, 0, c.m * (c.n - c.split) * 4));
    got = new Float32Array(c.m * c.n);
    for (let t = 0; t < c.m; t++) {
      got.set(a.subarray(t * c.split, (t + 1) * c.split), t * c.n);
      got.set(b.subarray(t * (c.n - c.split), (t + 1) * (c.n - c.split)), t * c.n + c.split);
    }
    want = full;
  } else {
    got = new Float32Array(await ctx.read(out, 0, c.m * c.n * 4));
    want = full;
  }
  const err = relativeL2(got, want);
  expect(err, `seed ${seed}, ${JSON.stringify(c)}: relative L2 ${err}`).toBeLessThan(1e-5);
  for (const b of [xb, out, out2, biasB, resB]) b?.destroy();
  matrix.destroy();
}

describe.skipIf(!gpu)('linear', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // Each distinct variant (kernel, dtype, bias/residual, tokens) costs a shader compile, which is
  // slow on a CPU adapter, so the cases share variants where they can. K values that are not a
  // multiple of 32 take the reduce kernel by default (scalar loads when K % 4 != 0).
  it.each<Case>([
    { m: 1, n: 37, k: 53, dtype: 'f32' },
    { m: 1, n: 256, k: 128, dtype: 'f32' },
    { m: 3, n: 130, k: 100, dtype: 'f32', bias: true, residual: true },
    { m: 20, n: 67, k: 9, dtype: 'f32', bias: true, residual: true },
    { m: 128, n: 200, k: 67, dtype: 'f32', bias: true, residual: true, kernel: 'reduce' },
    { m: 70, n: 75, k: 33, dtype: 'f32', bias: true, residual: true, kernel: 'matmul' },
    { m: 1, n: 99, k: 61, dtype: 'f16' },
    { m: 6, n: 99, k: 72, dtype: 'f16', bias: true, residual: true },
    { m: 65, n: 33, k: 47, dtype: 'f16', bias: true, residual: true, kernel: 'matmul' },
    { m: 9, n: 70, k: 64, dtype: 'f16', bias: true, residual: true, kernel: 'matmul' },
  ])('matches the f64 reference: %o', async (c) => {
    await check(ctx, c, seed);
  });

  it('splits a matrix over the binding limit into column parts transparently', async () => {
    // 4 KiB parts: a 45x50 f32 matrix becomes 3 parts.
    for (const c of [
      { m: 3, n: 45, k: 50, dtype: 'f32', bias: true, residual: true, maxPartBytes: 4096 },
      { m: 20, n: 45, k: 50, dtype: 'f32', bias: true, residual: true, maxPartBytes: 4096 },
      { m: 1, n: 45, k: 50, dtype: 'f16', maxPartBytes: 2048 },
    ] as const) {
      await check(ctx, c, seed + 1);
    }
    const m = uploadMatrix(ctx, new Float32Array(45 * 50).fill(1), 45, 50, 'f32', { maxPartBytes: 4096 });
    // 50 columns are stored as rows of 56 (a multiple of 8): 18 rows of 224 bytes fit 4 KiB.
    // Parts hold an even number of rows so that (gate, up) pairs stay together.
    expect(m.parts.map((p) => p.rows)).toEqual([16, 16, 13]);
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

  // The stream kernel needs a fixed subgroup size (lavapipe: 8) and K % 4S == 0; every shape of
  // rows and tokens per invocation, with odd N and partial token passes.
  it.skipIf(!gpu?.subgroupSize)('streams whole rows and 4x4 tiles with subgroup-shared x (CPU adapters)', async () => {
    const k = 4 * gpu!.subgroupSize! * 3;
    for (const c of [
      { m: 1, n: 37, k, dtype: 'f32', kernel: 'stream' },
      { m: 1, n: 101, k, dtype: 'f16', kernel: 'stream', bias: true, residual: true },
      { m: 3, n: 70, k, dtype: 'f32', kernel: 'stream', streamShape: { rows: 2, tokens: 2 } },
      { m: 11, n: 45, k, dtype: 'f16', kernel: 'stream', bias: true, residual: true, streamShape: { rows: 3, tokens: 4 } },
      { m: 2, n: 33, k: 2 * k, dtype: 'f16', kernel: 'stream', maxPartBytes: 10 * 2 * 2 * k },
      // The tile kernel: 4 rows per invocation, 4 or 8 tokens per pass, partial passes.
      { m: 3, n: 37, k, dtype: 'f32', kernel: 'tile', bias: true, residual: true },
      { m: 13, n: 70, k: 2 * k, dtype: 'f16', kernel: 'tile', maxPartBytes: 20 * 2 * 2 * k },
    ] as const) {
      await check(ctx, c, seed + 2);
    }
  });

  it('writes a fused product to two outputs (split) and SwiGLU pairs (glu) with every kernel', async () => {
    const k = 4 * (gpu!.subgroupSize ?? 8) * 2;
    // Two variants per kernel: each costs a shader compile.
    for (const [i, kernel] of (gpu!.subgroupSize ? (['stream', 'tile', 'reduce', 'matmul'] as const) : (['reduce', 'matmul'] as const)).entries()) {
      const dtype = i % 2 === 0 ? 'f16' : 'f32';
      await check(ctx, { m: 1, n: 90, k, dtype, bias: true, split: 50, kernel }, seed + 4);
      await check(ctx, { m: 3, n: 74, k, dtype, glu: true, maxPartBytes: 20 * 4 * k, kernel }, seed + 4);
    }
    const w = uploadMatrix(ctx, new Float32Array(6 * 32).fill(0.5), 6, 32, 'f32');
    const buf = (n: number, label: string) => ctx.createBuffer(n * 4, label);
    const rec = ctx.recorder();
    expect(() => linear(rec, { x: buf(32, 'x'), w, out: buf(3, 'o'), m: 1, glu: true, bias: buf(6, 'b') })).toThrow(/glu/);
    expect(() => linear(rec, { x: buf(32, 'x'), w, out: buf(6, 'o'), m: 1, split: { at: 6, out: buf(6, 'o2') } })).toThrow(/split.at/);
    w.destroy();
  });

  it('runs the reduce kernel (the GPU shape) on any K with the same result', async () => {
    for (const c of [
      { m: 2, n: 200, k: 131, dtype: 'f32', bias: true, residual: true, kernel: 'reduce' },
      { m: 1, n: 45, k: 9, dtype: 'f16', kernel: 'reduce' },
      { m: 5, n: 45, k: 96, dtype: 'f16', kernel: 'reduce', bias: true },
    ] as const) {
      await check(ctx, c, seed + 2);
    }
  });

  it.skipIf(!gpu?.features.shaderF16)('reads f16 weights as native f16 with shader-f16', async () => {
    await check(ctx, { m: 1, n: 77, k: 41, dtype: 'f16', f16Native: true }, seed);
    await check(ctx, { m: 40, n: 77, k: 41, dtype: 'f16', f16Native: true, kernel: 'matmul' }, seed);
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
    // The stream kernel refuses K that its subgroup loads cannot cover.
    expect(() => linear(rec, { x, w, out, m: 1, kernel: 'stream' })).toThrow(/K % 4S == 0/);
    w.destroy();
  });
});
