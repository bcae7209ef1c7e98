import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import { BufferUsage, type GpuContext } from '../runtime/gpu-context.js';
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
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { linear, linearKernelFor, MATVEC_MAX_ROWS } from './linear.js';
import { uploadMatrix } from './matrix.js';
import type { GpuMatrix, MatrixLayout } from './matrix.js';
import type { LinearAdapter, LinearKernelKind } from './linear.js';
import type { GpuDtype, MatrixDtype } from '@llm/quant';

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
  batchInvariant?: boolean;
  /** The weight's layout (default: uploadMatrix's choice for the adapter). */
  layout?: MatrixLayout;
}

/**
 * The reference of a case in the layout the kernels' outputs are read back in: [m, N / 2] with
 * glu, else [m, N] (with split, both outputs side by side again).
 */
function referenceOutput(
  c: Case,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | undefined,
  residual: Float32Array | undefined,
): Float32Array {
  const full = reference.linear({ x, w, m: c.m, n: c.n, k: c.k, bias, residual });
  if (!c.glu) return full;
  const outCols = c.n / 2;
  const want = new Float32Array(c.m * outCols);
  for (let t = 0; t < c.m; t++) {
    for (let i = 0; i < outCols; i++) {
      const gate = full[t * c.n + 2 * i]!;
      want[t * outCols + i] = (gate / (1 + Math.exp(-gate))) * full[t * c.n + 2 * i + 1]!;
    }
  }
  return want;
}

/** Records `linear` for case c on uploaded inputs; resolves to the outputs in referenceOutput's layout. */
function recordCase(
  rec: StepRecorder,
  c: Case,
  matrix: GpuMatrix,
  x: Float32Array,
  bias: GPUBuffer | undefined,
  residual: Float32Array | undefined,
  buffers: GPUBuffer[],
): Promise<Float32Array> {
  const ctx = rec.ctx;
  const upload = (data: Float32Array, label: string) => {
    const b = ctx.upload(data, label);
    buffers.push(b);
    return b;
  };
  const outCols = c.glu ? c.n / 2 : (c.split ?? c.n);
  const out = upload(poisonF32(c.m * outCols), 'out');
  const out2 = c.split ? upload(poisonF32(c.m * (c.n - c.split)), 'out2') : undefined;
  linear(rec, {
    x: upload(x, 'x'),
    w: matrix,
    out,
    m: c.m,
    bias,
    residual: residual && upload(residual, 'residual'),
    kernel: c.kernel,
    streamShape: c.streamShape,
    split: c.split && out2 ? { at: c.split, out: out2 } : undefined,
    glu: c.glu,
    f16Native: c.f16Native,
    batchInvariant: c.batchInvariant,
  });
  const first = rec.read(out, 0, c.m * outCols * 4);
  if (!c.split || !out2) return first.then((b) => new Float32Array(b));
  const second = rec.read(out2, 0, c.m * (c.n - c.split) * 4);
  return Promise.all([first, second]).then(([a, b]) =>
    joinSplit(c, new Float32Array(a), new Float32Array(b)),
  );
}

/** A split product's two outputs side by side again, as rows of N. */
function joinSplit(c: Case, a: Float32Array, b: Float32Array): Float32Array {
  const at = c.split!;
  const got = new Float32Array(c.m * c.n);
  for (let t = 0; t < c.m; t++) {
    got.set(a.subarray(t * at, (t + 1) * at), t * c.n);
    got.set(b.subarray(t * (c.n - at), (t + 1) * (c.n - at)), t * c.n + at);
  }
  return got;
}

/** Random weights for case c (f16: rounded, so the reference multiplies what the GPU reads). */
function caseMatrix(ctx: GpuContext, c: Case, rand: () => number): { w: Float32Array; matrix: GpuMatrix } {
  let w = randomFloats(rand, c.n * c.k);
  if (c.dtype === 'f16') w = f16ArrayToF32(f32ArrayToF16(w));
  const matrix = uploadMatrix(
    ctx,
    c.dtype === 'f16' ? f32ArrayToF16(w) : w,
    c.n,
    c.k,
    c.dtype,
    { ...(c.maxPartBytes ? { maxPartBytes: c.maxPartBytes } : {}), ...(c.layout ? { layout: c.layout } : {}) },
  );
  return { w, matrix };
}

/**
 * Runs `kernel` on x bound as given; resolves to the output, the passes that read x as a uniform
 * (their pipeline labels carry `ux`), and all passes. Destroys the binding's buffer.
 */
async function productThrough(
  ctx: GpuContext,
  matrix: GpuMatrix,
  x: BufferBindingLike,
  m: number,
  kernel: LinearKernelKind,
): Promise<{ got: Float32Array; uniform: number; passes: number }> {
  const out = ctx.upload(poisonF32(m * matrix.rows), 'out');
  const rec = ctx.recorder();
  linear(rec, { x, w: matrix, out, m, kernel });
  const labels = rec.dispatchLabels;
  const read = rec.read(out, 0, m * matrix.rows * 4);
  rec.submit();
  const got = new Float32Array(await read);
  out.destroy();
  ('buffer' in x ? x.buffer : x).destroy();
  return { got, uniform: labels.filter((l) => /ux\d+/.test(l)).length, passes: labels.length };
}

async function check(ctx: GpuContext, c: Case, seed: number): Promise<void> {
  const rand = seededRandom(seed);
  const x = randomFloats(rand, c.m * c.k);
  const { w, matrix } = caseMatrix(ctx, c, rand);
  const bias = c.bias ? randomFloats(rand, c.n) : undefined;
  const residual = c.residual ? randomFloats(rand, c.m * c.n) : undefined;
  const buffers: GPUBuffer[] = [];
  const biasB = bias && ctx.upload(bias, 'bias');
  if (biasB) buffers.push(biasB);
  const rec = ctx.recorder();
  const result = recordCase(rec, c, matrix, x, biasB, residual, buffers);
  rec.submit();
  const got = await result;
  const err = relativeL2(got, referenceOutput(c, x, w, bias, residual));
  expect(err, `seed ${seed}, ${JSON.stringify(c)}: relative L2 ${err}`).toBeLessThan(1e-5);
  for (const b of buffers) b.destroy();
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

  it('streams x through uniform windows with the bits it gets from storage', async () => {
    // A CPU adapter creates buffers with uniform usage, and the stream kernel binds each pass's
    // rows of x as a uniform (at the pass's offset, inside a binding's own offset); a buffer
    // without that usage, or a window past the device's uniform binding size, is read as storage.
    const rand = seededRandom(seed + 3);
    const storageOnly = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
    const product = async (matrix: GpuMatrix, x: Float32Array, m: number, how: 'uniform' | 'storage' | 'offset') => {
      let binding: BufferBindingLike = ctx.upload(x, 'x', how === 'storage' ? storageOnly : undefined);
      if (how === 'offset') {
        const padded = new Float32Array(64 + x.length);
        padded.set(x, 64);
        binding = { buffer: ctx.upload(padded, 'x'), offset: 256, size: x.byteLength };
      }
      return productThrough(ctx, matrix, binding, m, 'stream');
    };
    for (const [dtype, k] of [['f32', 256], ['f16', 512], ['f32', 8448]] as const) {
      const n = 13;
      const { w, matrix } = caseMatrix(ctx, { m: 1, n, k, dtype }, rand);
      for (const m of [1, 2, 3]) {
        const x = randomFloats(rand, m * k);
        const want = await product(matrix, x, m, 'storage');
        expect(want.uniform, `${dtype} K ${k}, m ${m}: storage-only x`).toBe(0);
        expect(relativeL2(want.got, reference.linear({ x, w, m, n, k }))).toBeLessThan(1e-5);
        for (const how of ['uniform', 'offset'] as const) {
          const got = await product(matrix, x, m, how);
          expect(got.got, `${dtype} K ${k}, m ${m}, ${how}`).toEqual(want.got);
          // A pass of two tokens of K = 8448 is 67584 bytes, past a 64 KiB uniform binding: with
          // m = 2 the one pass reads storage, with m = 3 the second pass (one token) a uniform.
          const oversized = 2 * k * 4 > ctx.device.limits.maxUniformBufferBindingSize && m === 2;
          expect(got.uniform > 0, `${dtype} K ${k}, m ${m}, ${how}: x as a uniform`).toBe(ctx.isCpuAdapter && !oversized);
        }
      }
      matrix.destroy();
    }
  });

  it('reads x through uniform windows in the tile kernel with the bits it gets from storage', async () => {
    // Each pass binds a window of up to 64 tokens (whole blocks of 4, 8 or 16) where the buffer
    // has room for all of it, and reads x from storage where it has not ('tight': x alone, so
    // the last pass of 200 tokens, from token 192, reads storage). K = 2048 f32 fits 8 tokens in
    // 64 KiB, fewer than a block of 16, so x stays in storage. The Q8_0 case is the block tile
    // kernel.
    const rand = seededRandom(seed + 5);
    const storageOnly = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
    type How = 'storage' | 'tight' | 'room' | 'offset';
    const product = async (matrix: GpuMatrix, x: Float32Array, m: number, how: How) => {
      const k = matrix.cols;
      // Room for a whole window past the last token, filled so that reading it would show.
      const padded = new Float32Array(64 * k + x.length + 64 * k).fill(1e6);
      padded.set(x, 64 * k);
      const binding: BufferBindingLike =
        how === 'storage' || how === 'tight'
          ? ctx.upload(x, 'x', how === 'storage' ? storageOnly : undefined)
          : how === 'room'
            ? ctx.upload(padded.subarray(64 * k), 'x')
            : { buffer: ctx.upload(padded, 'x'), offset: 64 * k * 4, size: (x.length + 64 * k) * 4 };
      return productThrough(ctx, matrix, binding, m, 'tile');
    };
    const cases = [
      { dtype: 'f32', k: 96, ms: [5, 20, 200] },
      { dtype: 'f16', k: 512, ms: [40] },
      { dtype: 'q8_0', k: 256, ms: [20] },
      { dtype: 'f32', k: 2048, ms: [20] },
    ] as const;
    for (const { dtype, k, ms } of cases) {
      const n = 21;
      const w = randomFloats(rand, n * k);
      const matrix = uploadMatrix(ctx, dtype === 'f16' ? f32ArrayToF16(w) : w, n, k, dtype);
      for (const m of ms) {
        const x = randomFloats(rand, m * k);
        const want = await product(matrix, x, m, 'storage');
        expect(want.uniform, `${dtype} K ${k}, m ${m}: storage-only x`).toBe(0);
        if (dtype !== 'q8_0') {
          const wf = dtype === 'f16' ? f16ArrayToF32(f32ArrayToF16(w)) : w;
          expect(relativeL2(want.got, reference.linear({ x, w: wf, m, n, k }))).toBeLessThan(1e-5);
        }
        for (const how of ['room', 'offset', 'tight'] as const) {
          const got = await product(matrix, x, m, how);
          expect(got.got, `${dtype} K ${k}, m ${m}, ${how}`).toEqual(want.got);
          // A window: whole blocks of the m's block size, up to 64 tokens, within 64 KiB.
          const block = m <= 4 ? 4 : m <= 8 ? 8 : 16;
          const window = Math.min(Math.floor(ctx.device.limits.maxUniformBufferBindingSize / (4 * k * block)), 64 / block) * block;
          const windows = ctx.isCpuAdapter && k < 2048 ? (how === 'tight' ? Math.floor(m / window) : got.passes) : 0;
          expect(got.uniform, `${dtype} K ${k}, m ${m}, ${how}: passes with x as a uniform`).toBe(windows);
        }
      }
      matrix.destroy();
    }
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
      // The tile kernel: 4 rows per invocation, 4, 8 or 16 tokens per block, every block of a
      // dispatch's tokens in turn, the last one partial.
      { m: 3, n: 37, k, dtype: 'f32', kernel: 'tile', bias: true, residual: true },
      { m: 7, n: 45, k, dtype: 'f16', kernel: 'tile' },
      { m: 13, n: 70, k: 2 * k, dtype: 'f16', kernel: 'tile', maxPartBytes: 20 * 2 * 2 * k },
      { m: 37, n: 21, k, dtype: 'f32', kernel: 'tile', bias: true, residual: true },
      // Row-major weights, which CPU adapters store in the lanes layout by default.
      { m: 1, n: 37, k, dtype: 'f32', kernel: 'stream', layout: 'rows' },
      { m: 11, n: 45, k, dtype: 'f16', kernel: 'stream', bias: true, residual: true, streamShape: { rows: 3, tokens: 4 }, layout: 'rows' },
      { m: 3, n: 37, k, dtype: 'f32', kernel: 'tile', bias: true, residual: true, layout: 'rows' },
      { m: 7, n: 45, k, dtype: 'f16', kernel: 'tile', layout: 'rows' },
    ] as const) {
      await check(ctx, c, seed + 2);
    }
  });

  it.skipIf(!gpu?.subgroupSize)('stores f32, f16 and 32-element block weights in the lanes layout on CPU adapters, read by every kernel', async () => {
    const size = gpu!.subgroupSize!;
    const lanesOf = (k: number, dtype: MatrixDtype, layout?: MatrixLayout) => {
      const m = uploadMatrix(ctx, new Float32Array(9 * k).fill(0.25), 9, k, dtype, layout ? { layout } : {});
      const lanes = m.parts.map((p) => p.lanes ?? 0);
      m.destroy();
      return lanes;
    };
    // By default where the stream kernel reads K (K % 4S == 0), on CPU adapters only.
    expect(lanesOf(4 * size * 3, 'f32')).toEqual([ctx.isCpuAdapter ? size : 0]);
    expect(lanesOf(4 * size * 3 + 8, 'f16')).toEqual([0]);
    expect(lanesOf(4 * size * 8, 'q8_0')).toEqual([ctx.isCpuAdapter ? size : 0]);
    expect(lanesOf(4 * size * 8, 'q4_k', 'lanes')).toEqual([0]);
    // A default part too small for a block of rows stays row-major; asked for, it is refused.
    expect(uploadMatrix(ctx, new Float32Array(20 * 64), 20, 64, 'f32', { maxPartBytes: 4 * 64 * 4 }).parts.map((p) => p.lanes ?? 0)).toEqual([0, 0, 0, 0, 0]);
    expect(() => uploadMatrix(ctx, new Float32Array(20 * 64), 20, 64, 'f32', { maxPartBytes: 4 * 64 * 4, layout: 'lanes' })).toThrow(/fewer than/);
    // Asked for, any K, read by the GPU kernels too (scalar loads when K % 4 != 0); odd N
    // leaves the last block of rows partial.
    for (const c of [
      { m: 2, n: 45, k: 131, dtype: 'f32', kernel: 'reduce', bias: true, layout: 'lanes' },
      { m: 3, n: 37, k: 96, dtype: 'f16', kernel: 'reduce', layout: 'lanes' },
      { m: 70, n: 75, k: 40, dtype: 'f32', kernel: 'matmul', residual: true, layout: 'lanes' },
      { m: 9, n: 70, k: 64, dtype: 'f16', kernel: 'matmul', layout: 'lanes', maxPartBytes: 16 * 64 * 2 },
    ] as const) {
      await check(ctx, c, seed + 6);
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

// Batch invariance: whatever else a step carries, a token's output row has the same bits.
const TOKEN_COUNTS = [1, 2, 3, 5, 8, 13, 32];
const POOL_TOKENS = 32;

/** Case c less m, with the kernel chosen per token count (default: linear's own choice). */
type InvarianceCase = Omit<Case, 'm' | 'kernel'> & { kernel?: (m: number) => LinearKernelKind };

/**
 * Runs every token of a pool of POOL_TOKENS alone, then batches of each of TOKEN_COUNTS drawn
 * from the pool at a different offset (so a token sits at different rows, passes and pass
 * positions), all in one step, and lists each batched row whose bits differ from the token's
 * own run. The single runs are also checked against the reference.
 */
async function invarianceMismatches(ctx: GpuContext, c: InvarianceCase, seed: number): Promise<string[]> {
  const { kernel: kernelFor, ...shape } = c;
  const rand = seededRandom(seed);
  const rowsOf = (data: Float32Array, cols: number, tokens: number[]) => {
    const out = new Float32Array(tokens.length * cols);
    tokens.forEach((t, i) => out.set(data.subarray(t * cols, (t + 1) * cols), i * cols));
    return out;
  };
  const x = randomFloats(rand, POOL_TOKENS * c.k);
  const { w, matrix } = caseMatrix(ctx, { ...shape, m: 1 }, rand);
  const bias = c.bias ? randomFloats(rand, c.n) : undefined;
  const residual = c.residual ? randomFloats(rand, POOL_TOKENS * c.n) : undefined;
  const buffers: GPUBuffer[] = [];
  const biasB = bias && ctx.upload(bias, 'bias');
  if (biasB) buffers.push(biasB);
  const rec = ctx.recorder();
  const run = (tokens: number[]) => {
    const m = tokens.length;
    const kase: Case = { ...shape, m, ...(kernelFor ? { kernel: kernelFor(m) } : {}) };
    const res = residual && rowsOf(residual, c.n, tokens);
    return recordCase(rec, kase, matrix, rowsOf(x, c.k, tokens), biasB, res, buffers);
  };
  const alone = Array.from({ length: POOL_TOKENS }, (_, t) => run([t]));
  const batches = TOKEN_COUNTS.map((m, i) => {
    const tokens = Array.from({ length: m }, (_, j) => (5 * i + j) % POOL_TOKENS);
    return { tokens, out: run(tokens) };
  });
  rec.submit();
  const single = await Promise.all(alone);
  const cols = single[0]!.length;
  const all = new Float32Array(POOL_TOKENS * cols);
  single.forEach((row, t) => all.set(row, t * cols));
  const want = referenceOutput({ ...shape, m: POOL_TOKENS }, x, w, bias, residual);
  const err = relativeL2(all, want);
  expect(err, `seed ${seed}, ${JSON.stringify(c)}: single tokens against the reference`).toBeLessThan(1e-5);
  const mismatches: string[] = [];
  for (const { tokens, out } of batches) {
    const got = new Uint32Array((await out).buffer);
    tokens.forEach((t, row) => {
      const mine = got.subarray(row * cols, (row + 1) * cols);
      const own = new Uint32Array(single[t]!.buffer);
      const at = mine.findIndex((bits, i) => bits !== own[i]);
      if (at >= 0) mismatches.push(`m=${tokens.length} row ${row} (token ${t}) differs at feature ${at}`);
    });
  }
  for (const b of buffers) b.destroy();
  matrix.destroy();
  return mismatches;
}

describe.skipIf(!gpu)('linear batch invariance', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;
  // K a multiple of 4S takes stream (1-2 tokens) and tile (more) on CPU adapters; other K the
  // reduce kernel for every m.
  const s4 = 4 * (gpu?.subgroupSize ?? 8);

  it.each<InvarianceCase>([
    { n: 37, k: 3 * s4, dtype: 'f32' },
    { n: 45, k: 5 * s4, dtype: 'f16', bias: true, residual: true },
    { n: 67, k: 3 * s4, dtype: 'f32', bias: true, split: 29 },
    { n: 51, k: 2 * s4, dtype: 'f16', split: 20, maxPartBytes: 20 * 2 * 2 * s4 },
    { n: 74, k: 3 * s4, dtype: 'f32', glu: true },
    { n: 90, k: 2 * s4, dtype: 'f16', glu: true },
    { n: 41, k: 61, dtype: 'f32', bias: true, residual: true },
    { n: 34, k: 75, dtype: 'f16', glu: true },
  ])('gives each token the bits it gets alone, for every m, by default: %o', async (c) => {
    expect(await invarianceMismatches(ctx, c, seed)).toEqual([]);
  });

  it('keeps the default choice on this adapter with batchInvariant (CPU adapters are invariant by default)', () => {
    for (const k of [s4, 61]) {
      for (const m of TOKEN_COUNTS) {
        expect(linearKernelFor(ctx, k, m, { batchInvariant: true })).toBe(linearKernelFor(ctx, k, m));
      }
    }
  });

  // A GPU adapter switches from reduce to matmul above MATVEC_MAX_ROWS tokens; batchInvariant
  // keeps reduce. Both kernels run here too, so the choice it makes is checked on this adapter.
  const gpuAdapter: LinearAdapter = {
    isCpuAdapter: false,
    features: { shaderF16: true, subgroups: true, timestampQuery: false },
    subgroupSize: undefined,
  };

  it('runs reduce for every m on a GPU adapter with batchInvariant, matmul for prefill without', async () => {
    for (const m of TOKEN_COUNTS) {
      expect(linearKernelFor(gpuAdapter, s4, m, { batchInvariant: true })).toBe('reduce');
      expect(linearKernelFor(gpuAdapter, s4, m)).toBe(m <= MATVEC_MAX_ROWS ? 'reduce' : 'matmul');
    }
    const kernel = (m: number) => linearKernelFor(gpuAdapter, 2 * s4, m, { batchInvariant: true });
    for (const c of [
      { n: 37, k: 2 * s4, dtype: 'f16', bias: true, residual: true, kernel },
      { n: 70, k: 2 * s4, dtype: 'f32', glu: true, kernel },
      { n: 45, k: 61, dtype: 'f16', split: 17, kernel },
    ] as const) {
      expect(await invarianceMismatches(ctx, c, seed + 1)).toEqual([]);
    }
  });

  it('gives each token the same bits for every m within the matmul kernel', async () => {
    const kernel = () => 'matmul' as const;
    const c = { n: 70, k: 67, dtype: 'f16', bias: true, residual: true, kernel } as const;
    expect(await invarianceMismatches(ctx, c, seed + 2)).toEqual([]);
  });
});
