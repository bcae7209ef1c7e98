import { describe, expect, it } from 'vitest';
import { inverseFactors, quantizeRowsI8, smoothQuantFactors, type I8Rows } from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonF32, poisonU32, randomFloats, relativeL2, seededRandom } from '../testing/index.js';
import { I8Matrix, linearI8, quantizeActivationsI8, uploadI8Matrix } from './w8a8.js';

const gpu = await gpuForTests();

interface Case {
  m: number;
  n: number;
  k: number;
  smooth?: boolean;
  bias?: boolean;
  residual?: boolean;
  split?: number;
  glu?: boolean;
}

/** Quantizes x for `w` and runs the product; resolves to the GPU's activations and outputs. */
async function run(
  ctx: GpuContext,
  w: I8Matrix,
  x: Float32Array,
  c: Case,
  extra: { bias?: Float32Array | undefined; residual?: Float32Array | undefined } = {},
): Promise<{ xq: Int8Array; xScales: Float32Array; out: Float32Array; out2?: Float32Array }> {
  const buffers: GPUBuffer[] = [];
  const upload = (data: Float32Array | Uint32Array, label: string) => {
    const b = ctx.upload(data, label);
    buffers.push(b);
    return b;
  };
  const q = upload(poisonU32(c.m * w.words * 4), 'xq');
  const scales = upload(poisonF32(c.m), 'x scales');
  const outCols = c.glu ? c.n / 2 : (c.split ?? c.n);
  const out = upload(poisonF32(c.m * outCols), 'out');
  const out2 = c.split ? upload(poisonF32(c.m * (c.n - c.split)), 'out2') : undefined;
  const rec = ctx.recorder();
  quantizeActivationsI8(rec, { x: upload(x, 'x'), w, m: c.m, out: { q, scales } });
  linearI8(rec, {
    x: { q, scales },
    w,
    out,
    m: c.m,
    bias: extra.bias && upload(extra.bias, 'bias'),
    residual: extra.residual && upload(extra.residual, 'residual'),
    split: out2 && { at: c.split!, out: out2 },
    glu: c.glu,
  });
  const reads = [
    rec.read(q, 0, c.m * w.words * 16),
    rec.read(scales, 0, c.m * 4),
    rec.read(out, 0, c.m * outCols * 4),
    ...(out2 ? [rec.read(out2, 0, c.m * (c.n - c.split!) * 4)] : []),
  ];
  rec.submit();
  const [qBytes, sBytes, outBytes, out2Bytes] = await Promise.all(reads);
  for (const b of buffers) b.destroy();
  return {
    xq: new Int8Array(qBytes!),
    xScales: new Float32Array(sBytes!),
    out: new Float32Array(outBytes!),
    ...(out2Bytes ? { out2: new Float32Array(out2Bytes) } : {}),
  };
}

/** The reference outputs of case c in the layout the kernel writes (glu pairs, split halves). */
function expected(c: Case, xr: I8Rows, wr: I8Rows, bias?: Float32Array, residual?: Float32Array) {
  const full = reference.linearI8({ x: xr, w: wr, m: c.m, n: c.n, k: c.k, bias, residual });
  if (c.glu) {
    const half = c.n / 2;
    const out = new Float32Array(c.m * half);
    for (let t = 0; t < c.m; t++) {
      for (let i = 0; i < half; i++) {
        const gate = full[t * c.n + 2 * i]!;
        out[t * half + i] = (gate / (1 + Math.exp(-gate))) * full[t * c.n + 2 * i + 1]!;
      }
    }
    return { out };
  }
  if (!c.split) return { out: full };
  const at = c.split;
  const out = new Float32Array(c.m * at);
  const out2 = new Float32Array(c.m * (c.n - at));
  for (let t = 0; t < c.m; t++) {
    out.set(full.subarray(t * c.n, t * c.n + at), t * at);
    out2.set(full.subarray(t * c.n + at, (t + 1) * c.n), t * (c.n - at));
  }
  return { out, out2 };
}

/** Largest |got - want| over the largest |want|: 0 where the f32 arithmetic matches exactly. */
function worstError(got: Float32Array, want: Float32Array): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return Number.isNaN(worst) || got.some(Number.isNaN) ? Number.NaN : worst / scale;
}

/** Activations with a few outlier channels, as LLM activations have: what SmoothQuant is for. */
function outlierActivations(rand: () => number, m: number, k: number): Float32Array {
  const x = randomFloats(rand, m * k);
  for (let t = 0; t < m; t++) for (let j = 0; j < k; j += 37) x[t * k + j]! *= 40;
  return x;
}

describe.skipIf(!gpu)('W8A8 (quantizeActivationsI8 + linearI8)', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // K not a multiple of the 16-value words nor of a subgroup's step; N not a multiple of 4.
  it.each<Case>([
    { m: 1, n: 37, k: 100, bias: true, residual: true },
    { m: 3, n: 37, k: 100, smooth: true },
    { m: 21, n: 70, k: 288, smooth: true, glu: true },
    { m: 37, n: 45, k: 132, split: 29, bias: true },
  ])('quantizes x as @llm/quant does and matches the integer reference: %o', async (c) => {
    const rand = seededRandom(seed);
    const x = outlierActivations(rand, c.m, c.k);
    const w = randomFloats(rand, c.n * c.k);
    const smooth = c.smooth ? randomFloats(rand, c.k, 0.25, 4) : undefined;
    const bias = c.bias ? randomFloats(rand, c.n) : undefined;
    const residual = c.residual ? randomFloats(rand, c.m * c.n) : undefined;
    const matrix = uploadI8Matrix(ctx, w, c.n, c.k, { smooth });
    const got = await run(ctx, matrix, x, c, { bias, residual });
    const wr = quantizeRowsI8(w, c.n, c.k, smooth);
    const xr = quantizeRowsI8(x, c.m, c.k, smooth && inverseFactors(smooth));
    const message = `seed ${seed}, ${JSON.stringify(c)}`;
    expect(Array.from(got.xScales), message).toEqual(Array.from(xr.scales));
    for (let t = 0; t < c.m; t++) {
      const row = got.xq.subarray(t * matrix.words * 16, (t + 1) * matrix.words * 16);
      expect(Array.from(row.subarray(0, c.k)), `${message}: token ${t}`).toEqual(Array.from(xr.q.subarray(t * c.k, (t + 1) * c.k)));
      // Past K the row is zeros: the product reads whole words.
      expect(row.subarray(c.k).every((v) => v === 0), `${message}: token ${t} padding`).toBe(true);
    }
    const want = expected(c, xr, wr, bias, residual);
    // glu's exponential is the GPU's own; everything else is the same f32 arithmetic.
    const tolerance = c.glu ? 1e-5 : 1e-6;
    expect(worstError(got.out, want.out), message).toBeLessThanOrEqual(tolerance);
    if (want.out2) expect(worstError(got.out2!, want.out2), message).toBeLessThanOrEqual(tolerance);
    matrix.destroy();
  });

  it('gives a token the same bits alone and among others', async () => {
    const rand = seededRandom(seed + 1);
    const c: Case = { m: 19, n: 41, k: 160 };
    const x = randomFloats(rand, c.m * c.k);
    const matrix = uploadI8Matrix(ctx, randomFloats(rand, c.n * c.k), c.n, c.k);
    const all = await run(ctx, matrix, x, c);
    for (const t of [0, 7, 18]) {
      const alone = await run(ctx, matrix, x.slice(t * c.k, (t + 1) * c.k), { ...c, m: 1 });
      expect(Array.from(alone.out), `seed ${seed + 1}: token ${t}`).toEqual(Array.from(all.out.subarray(t * c.n, (t + 1) * c.n)));
    }
    matrix.destroy();
  });

  it('stays within int8 error of the float product, closer with SmoothQuant factors on outlier channels', async () => {
    const rand = seededRandom(seed + 2);
    const c: Case = { m: 24, n: 64, k: 256 };
    const x = outlierActivations(rand, c.m, c.k);
    const w = randomFloats(rand, c.n * c.k);
    const exact = reference.linear({ x, w, m: c.m, n: c.n, k: c.k });
    const actMax = new Float32Array(c.k);
    const wMax = new Float32Array(c.k);
    for (let j = 0; j < c.k; j++) {
      for (let t = 0; t < c.m; t++) actMax[j] = Math.max(actMax[j]!, Math.abs(x[t * c.k + j]!));
      for (let r = 0; r < c.n; r++) wMax[j] = Math.max(wMax[j]!, Math.abs(w[r * c.k + j]!));
    }
    const errors: number[] = [];
    for (const smooth of [undefined, smoothQuantFactors(actMax, wMax)]) {
      const matrix = uploadI8Matrix(ctx, w, c.n, c.k, { smooth });
      errors.push(relativeL2((await run(ctx, matrix, x, c)).out, exact));
      matrix.destroy();
    }
    const [plain, smoothed] = errors as [number, number];
    expect(plain, `seed ${seed + 2}`).toBeLessThan(0.05);
    expect(smoothed, `seed ${seed + 2}: ${smoothed} vs ${plain} without smoothing`).toBeLessThan(plain * 0.7);
  });

  it('names what is wrong with a bad weight or product', () => {
    expect(() => uploadI8Matrix(ctx, new Float32Array(6), 2, 3)).toThrow(KernelShapeError);
    expect(() => uploadI8Matrix(ctx, new Float32Array(8), 2, 4, { smooth: new Float32Array([1, 0, 1, 1]) })).toThrow(/positive/);
    const matrix = uploadI8Matrix(ctx, randomFloats(seededRandom(1), 3 * 8), 3, 8);
    const small = ctx.createBuffer(16, 'small');
    const rec = ctx.recorder();
    expect(() => linearI8(rec, { x: { q: small, scales: small }, w: matrix, out: small, m: 4 })).toThrow(KernelShapeError);
    expect(() => linearI8(rec, { x: { q: small, scales: small }, w: matrix, out: small, m: 1, glu: true })).toThrow(/glu/);
    small.destroy();
    matrix.destroy();
  });
});
