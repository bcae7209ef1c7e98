/**
 * Runs a few kernels of this package on the browser's navigator.gpu and compares them with the
 * CPU references. Bundled for the page by browser-kernels.test.ts; the seed comes from the page's
 * `?seed=` query so a failure seen from Node can be replayed.
 */
import { f16ArrayToF32, f32ArrayToF16 } from '@llm/quant';
import { GpuContext, argmax, linear, reference, rmsNorm, uploadMatrix } from '../index.js';
import type { GpuFeatures } from '../index.js';
import type { GpuDtype } from '@llm/quant';
// The random helpers alone: the testing index also registers vitest hooks.
import { poisonF32, poisonU32, randomFloats, relativeL2, seededRandom } from '../testing/random.js';

export interface BrowserKernelCheck {
  kernel: 'rmsNorm' | 'linear';
  /** The case as written, e.g. `linear f16 m=37 n=99 k=61 matmul`. */
  label: string;
  dtype: GpuDtype;
  relL2: number;
  /** Wall time of the case in the page, pipeline compiles included. */
  ms: number;
  /** Output elements still holding the NaN poison (or any other non-finite value). */
  unwritten: number;
}

export interface BrowserArgmaxCheck {
  rows: number;
  vocab: number;
  got: number[];
  want: number[];
}

export interface BrowserKernelReport {
  adapter: string;
  /** The adapter's own words: GpuContext's adapterName is the first non-empty one. */
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  isCpuAdapter: boolean;
  subgroupSize: number | undefined;
  features: GpuFeatures;
  userAgent: string;
  seed: number;
  checks: BrowserKernelCheck[];
  /** Largest relative L2 error per kernel and weight dtype, e.g. `linear f16`. */
  maxRelL2: Record<string, number>;
  argmax: BrowserArgmaxCheck;
}

declare global {
  interface Window {
    kernelReport?: Promise<BrowserKernelReport>;
  }
}

interface LinearCase {
  m: number;
  n: number;
  k: number;
  dtype: GpuDtype;
  kernel: 'default' | 'matmul';
  biasAndResidual: boolean;
}

// Odd sizes throughout: none is a multiple of the 4-column groups or the matmul tiles.
const LINEAR_CASES: readonly LinearCase[] = [
  { m: 1, n: 291, k: 173, dtype: 'f32', kernel: 'default', biasAndResidual: false },
  // K % 4 == 0 and several rows: on an adapter with a fixed subgroup size, the shared x loads.
  { m: 5, n: 130, k: 100, dtype: 'f32', kernel: 'default', biasAndResidual: true },
  { m: 37, n: 75, k: 67, dtype: 'f32', kernel: 'matmul', biasAndResidual: true },
  { m: 1, n: 99, k: 61, dtype: 'f16', kernel: 'default', biasAndResidual: false },
  { m: 37, n: 45, k: 53, dtype: 'f16', kernel: 'matmul', biasAndResidual: false },
];

function countNonFinite(values: Float32Array): number {
  let n = 0;
  for (const v of values) if (!Number.isFinite(v)) n++;
  return n;
}

async function timed(check: () => Promise<Omit<BrowserKernelCheck, 'ms'>>): Promise<BrowserKernelCheck> {
  const start = performance.now();
  const result = await check();
  return { ...result, ms: Math.round(performance.now() - start) };
}

async function checkRmsNorm(ctx: GpuContext, rand: () => number): Promise<Omit<BrowserKernelCheck, 'ms'>> {
  const rows = 3;
  const dim = 1001;
  const eps = 1e-5;
  const x = randomFloats(rand, rows * dim, -3, 3);
  const weight = randomFloats(rand, dim, 0.5, 1.5);
  const xb = ctx.upload(x, 'x');
  const wb = ctx.upload(weight, 'weight');
  const out = ctx.upload(poisonF32(rows * dim), 'out');
  const rec = ctx.recorder('rmsNorm');
  rmsNorm(rec, { x: xb, weight: wb, out, rows, dim, eps });
  rec.submit();
  const got = new Float32Array(await ctx.read(out, 0, rows * dim * 4));
  for (const b of [xb, wb, out]) b.destroy();
  return {
    kernel: 'rmsNorm',
    label: `rmsNorm rows=${rows} dim=${dim}`,
    dtype: 'f32',
    relL2: relativeL2(got, reference.rmsNorm({ x, weight, rows, dim, eps })),
    unwritten: countNonFinite(got),
  };
}

async function checkLinear(
  ctx: GpuContext,
  rand: () => number,
  c: LinearCase,
): Promise<Omit<BrowserKernelCheck, 'ms'>> {
  const { m, n, k, dtype } = c;
  const x = randomFloats(rand, m * k);
  let w = randomFloats(rand, n * k);
  // The reference multiplies the same f16-rounded weights the GPU reads.
  if (dtype === 'f16') w = f16ArrayToF32(f32ArrayToF16(w));
  const bias = c.biasAndResidual ? randomFloats(rand, n) : undefined;
  const residual = c.biasAndResidual ? randomFloats(rand, m * n) : undefined;
  const matrix = uploadMatrix(ctx, dtype === 'f16' ? f32ArrayToF16(w) : w, n, k, dtype);
  const xb = ctx.upload(x, 'x');
  const out = ctx.upload(poisonF32(m * n), 'out');
  const biasB = bias && ctx.upload(bias, 'bias');
  const residualB = residual && ctx.upload(residual, 'residual');
  const rec = ctx.recorder('linear');
  linear(rec, { x: xb, w: matrix, out, m, bias: biasB, residual: residualB, ...(c.kernel === 'matmul' ? { kernel: 'matmul' } : {}) });
  rec.submit();
  const got = new Float32Array(await ctx.read(out, 0, m * n * 4));
  for (const b of [xb, out, biasB, residualB]) b?.destroy();
  matrix.destroy();
  const extras = c.biasAndResidual ? ' +bias +residual' : '';
  return {
    kernel: 'linear',
    label: `linear ${dtype} m=${m} n=${n} k=${k} ${c.kernel}${extras}`,
    dtype,
    relL2: relativeL2(got, reference.linear({ x, w, m, n, k, bias, residual })),
    unwritten: countNonFinite(got),
  };
}

async function checkArgmax(ctx: GpuContext, rand: () => number): Promise<BrowserArgmaxCheck> {
  const rows = 3;
  const vocab = 32003;
  const logits = randomFloats(rand, rows * vocab, -20, 20);
  const lb = ctx.upload(logits, 'logits');
  const out = ctx.upload(poisonU32(rows), 'out');
  const rec = ctx.recorder('argmax');
  argmax(rec, { logits: lb, out, rows, vocab });
  rec.submit();
  const got = new Uint32Array(await ctx.read(out, 0, rows * 4));
  lb.destroy();
  out.destroy();
  return { rows, vocab, got: [...got], want: [...reference.argmax(logits, rows, vocab)] };
}

async function runKernels(seed: number): Promise<BrowserKernelReport> {
  const info = (await navigator.gpu.requestAdapter())?.info;
  const ctx = await GpuContext.create();
  try {
    const rand = seededRandom(seed);
    const checks = [await timed(() => checkRmsNorm(ctx, rand))];
    for (const c of LINEAR_CASES) checks.push(await timed(() => checkLinear(ctx, rand, c)));
    const argmaxCheck = await checkArgmax(ctx, rand);
    // Errors the device reported outside a read (validation, lost device) fail the run too.
    await ctx.sync();
    const maxRelL2: Record<string, number> = {};
    for (const c of checks) {
      const key = c.kernel === 'linear' ? `linear ${c.dtype}` : c.kernel;
      // NaN must win the max, or an unwritten output could hide behind a finite one.
      const prev = maxRelL2[key] ?? 0;
      maxRelL2[key] = Number.isNaN(c.relL2) || c.relL2 > prev ? c.relL2 : prev;
    }
    return {
      adapter: ctx.adapterName,
      adapterInfo: {
        vendor: info?.vendor ?? '',
        architecture: info?.architecture ?? '',
        device: info?.device ?? '',
        description: info?.description ?? '',
      },
      isCpuAdapter: ctx.isCpuAdapter,
      subgroupSize: ctx.subgroupSize,
      features: { ...ctx.features },
      userAgent: navigator.userAgent,
      seed,
      checks,
      maxRelL2,
      argmax: argmaxCheck,
    };
  } finally {
    ctx.destroy();
  }
}

const seed = Number(new URLSearchParams(location.search).get('seed') ?? '1');
window.kernelReport = runKernels(seed);
