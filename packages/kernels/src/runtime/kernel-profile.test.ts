import { errorCodeOf } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { add } from '../kernels/add.js';
import { linear, linearKernelFor } from '../kernels/linear.js';
import { uploadMatrix } from '../kernels/matrix.js';
import { rmsNorm } from '../kernels/rms-norm.js';
import { extraGpuForTests, gpuForTests, randomFloats, seededRandom } from '../testing/index.js';
import { GpuFeatureError } from './errors.js';
import type { GpuContext } from './gpu-context.js';
import { kernelKind, QUERIES_PER_SET, type KernelProfile } from './kernel-profile.js';
import { formatProfile, summarizeProfile } from './profile-summary.js';

const gpu = await gpuForTests();
// The profiler needs timestamp-query; lavapipe and most GPUs have it. Under CI=true an adapter
// without it fails these tests instead of skipping them.
const timestamps =
  gpu?.features.timestampQuery === true || (gpu !== undefined && process.env['CI'] === 'true');

/**
 * One step of three kernel kinds on `c`: rms-norm, two matvecs, add; resolves to its output.
 * The inputs are the same on every context.
 */
function stepOn(c: GpuContext): () => Promise<Float32Array> {
  const dim = 256;
  const rand = seededRandom(7);
  const x = c.upload(randomFloats(rand, dim), 'x');
  const normWeight = c.upload(randomFloats(rand, dim), 'norm weight');
  const w = uploadMatrix(c, randomFloats(rand, dim * dim), dim, dim, 'f32', { label: 'w' });
  const normed = c.createBuffer(dim * 4, 'normed');
  const h = c.createBuffer(dim * 4, 'h');
  const y = c.createBuffer(dim * 4, 'y');
  const out = c.createBuffer(dim * 4, 'out');
  return async () => {
    const rec = c.recorder('profiled step');
    rmsNorm(rec, { x, weight: normWeight, out: normed, rows: 1, dim, eps: 1e-5 });
    linear(rec, { x: normed, w, out: h, m: 1 });
    linear(rec, { x: h, w, out: y, m: 1 });
    add(rec, { a: x, b: y, out, length: dim });
    const back = rec.read(out);
    rec.submit();
    return new Float32Array(await back);
  };
}

describe('kernelKind', () => {
  it('keeps the kernel name and drops variant keys and shape tags', () => {
    expect(kernelKind('matvec/f16h/rows1/4x8/sg0')).toBe('matvec');
    expect(kernelKind('matmul/f32')).toBe('matmul');
    expect(kernelKind('rms-norm/')).toBe('rms-norm');
    expect(kernelKind('paged-attention-naive/f16u')).toBe('paged-attention-naive');
    expect(kernelKind('attention-decode-d64-h4-kv1-sg16-f16h')).toBe('attention-decode');
    expect(kernelKind('attention-prefill-d128-f32')).toBe('attention-prefill');
    expect(kernelKind('attention-decode-merge')).toBe('attention-decode-merge');
    expect(kernelKind('')).toBe('(unlabeled)');
  });
});

describe('summarizeProfile and formatProfile', () => {
  const profile: KernelProfile = {
    steps: 4,
    dispatches: 12,
    stepDispatches: { min: 3, max: 3 },
    gpuNs: 8e6,
    wallMs: 10,
    kinds: [
      { kind: 'matvec', dispatches: 8, gpuNs: 6e6 },
      { kind: 'rms-norm', dispatches: 4, gpuNs: 2e6 },
    ],
  };

  it('gives dispatches, GPU and wall time per token and each kind’s share', () => {
    const s = summarizeProfile(profile, 4);
    expect(s).toMatchObject({
      tokens: 4,
      steps: 4,
      dispatches: 12,
      dispatchesPerToken: 3,
      dispatchesPerStep: { mean: 3, min: 3, max: 3 },
      gpuMsPerToken: 2,
      wallMsPerToken: 2.5,
    });
    expect(s.kinds).toEqual([
      { kind: 'matvec', dispatchesPerToken: 2, msPerToken: 1.5, share: 0.75 },
      { kind: 'rms-norm', dispatchesPerToken: 1, msPerToken: 0.5, share: 0.25 },
    ]);
    expect(() => summarizeProfile(profile, 0)).toThrow(/positive token count/);
  });

  it('renders a table with one row per kind and a total', () => {
    const text = formatProfile(summarizeProfile(profile, 4), 'decode');
    expect(text).toMatch(
      /^decode: 4 tokens, 4 steps, 3 dispatches per step; GPU 2\.000 ms\/token, wall 2\.500 ms\/token \(GPU busy 80\.0%\)\n/,
    );
    const rows = text.trimEnd().split('\n').slice(1);
    expect(rows[0]).toMatch(/^ {2}kernel\s+dispatches\/token\s+ms\/token\s+share$/);
    expect(rows[2]).toMatch(/^ {2}matvec\s+2\.00\s+1\.500\s+75\.0%$/);
    expect(rows[3]).toMatch(/^ {2}rms-norm\s+1\.00\s+0\.500\s+25\.0%$/);
    expect(rows[5]).toMatch(/^ {2}total\s+3\.00\s+2\.000\s+100\.0%$/);
    // The columns line up.
    expect(new Set(rows.map((r) => r.length)).size).toBe(1);
  });
});

describe.skipIf(!gpu)('GpuContext kernel profile', () => {
  const ctx = gpu!;
  const step = stepOn(ctx);

  it.skipIf(!timestamps)('times each dispatch by kernel kind, results unchanged', async () => {
    const plain = await step();
    expect(ctx.profiling).toBe(false);
    ctx.startProfile();
    expect(ctx.profiling).toBe(true);
    const profiled = [await step(), await step()];
    const profile = await ctx.stopProfile();
    expect(ctx.profiling).toBe(false);
    for (const got of profiled) expect(got).toEqual(plain);
    // And unchanged after the profile.
    expect(await step()).toEqual(plain);

    expect(profile.steps).toBe(2);
    expect(profile.dispatches).toBe(8);
    expect(profile.stepDispatches).toEqual({ min: 4, max: 4 });
    const byKind = Object.fromEntries(profile.kinds.map((k) => [k.kind, k]));
    // The matvec kernel this adapter runs for one token (see linearKernelFor).
    const matvec = `matvec-${linearKernelFor(ctx, 256, 1)}`;
    expect(Object.keys(byKind).sort()).toEqual(['add', matvec, 'rms-norm']);
    expect(byKind[matvec]!.dispatches).toBe(4);
    expect(byKind['rms-norm']!.dispatches).toBe(2);
    expect(byKind['add']!.dispatches).toBe(2);
    for (const k of profile.kinds) expect(k.gpuNs, k.kind).toBeGreaterThan(0);
    expect(profile.gpuNs).toBe(profile.kinds.reduce((sum, k) => sum + k.gpuNs, 0));
    expect(profile.kinds.map((k) => k.gpuNs)).toEqual(
      [...profile.kinds.map((k) => k.gpuNs)].sort((a, b) => b - a),
    );
    expect(profile.wallMs).toBeGreaterThan(0);
    // Dawn in Node gives timestamps to the nanosecond, not rounded down to 2^16 ns.
    expect(profile.kinds.some((k) => k.gpuNs % 2 ** 16 !== 0)).toBe(true);
  });

  it.skipIf(!timestamps)(
    'stops at once, so the next profile can start before the first is read back',
    async () => {
      ctx.startProfile();
      await step();
      const first = ctx.stopProfile();
      ctx.startProfile();
      await step();
      await step();
      const second = await ctx.stopProfile();
      expect((await first).steps).toBe(1);
      expect(second.steps).toBe(2);
      await expect(ctx.stopProfile()).rejects.toThrow(/no kernel profile is running/);
    },
  );

  it.skipIf(!timestamps)('times a step with more dispatches than one query set holds', async () => {
    const perSet = QUERIES_PER_SET / 2;
    const n = 8;
    const a = ctx.upload(new Float32Array(n).fill(1), 'a');
    const b = ctx.upload(new Float32Array(n).fill(0), 'b');
    const c = ctx.upload(new Float32Array(n).fill(0), 'c');
    const rec = ctx.recorder('long step');
    ctx.startProfile();
    // c = a + b, then b = a + c, and so on: after N adds the last one written holds N.
    for (let i = 0; i < perSet + 40; i++)
      add(rec, i % 2 === 0 ? { a, b, out: c, length: n } : { a, b: c, out: b, length: n });
    // The last dispatches, in the second query set, are of another kind.
    rmsNorm(rec, { x: b, weight: a, out: c, rows: 1, dim: n, eps: 1e-5 });
    const back = rec.read(b);
    rec.submit();
    const sums = new Float32Array(await back);
    const profile = await ctx.stopProfile();
    expect(sums[0]).toBe(perSet + 40);
    expect(profile.steps).toBe(1);
    expect(profile.dispatches).toBe(perSet + 41);
    const byKind = Object.fromEntries(profile.kinds.map((k) => [k.kind, k]));
    expect(byKind['add']!.dispatches).toBe(perSet + 40);
    expect(byKind['rms-norm']!.dispatches).toBe(1);
    expect(byKind['rms-norm']!.gpuNs).toBeGreaterThan(0);
    for (const buffer of [a, b, c]) buffer.destroy();
  });

  it('throws GpuFeatureError (unsupported) naming timestamp-query when the device lacks it', async () => {
    const plain = await extraGpuForTests({ disableFeatures: ['timestampQuery'] });
    const plainStep = stepOn(plain!);
    expect(plain!.features.timestampQuery).toBe(false);
    const error = (() => {
      try {
        plain!.startProfile();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(GpuFeatureError);
    expect(errorCodeOf(error)).toBe('unsupported');
    expect((error as GpuFeatureError).feature).toBe('timestamp-query');
    expect((error as Error).message).toMatch(/timestamp-query/);
    expect(plain!.profiling).toBe(false);
    // Profiling stays off and steps run as before.
    expect(await plainStep()).toEqual(await step());
  });
});
