import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../testing/index.js';
import { GpuDeviceError, GpuLimitError, KernelShapeError } from './errors.js';
import { GpuContext } from './gpu-context.js';

const gpu = await gpuForTests();

const scaleKernel = {
  name: 'scale-test',
  code: /* wgsl */ `
struct Params { n: u32, factor: f32 }
override WG: u32 = 64u;
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < params.n) { dst[id.x] = src[id.x] * params.factor; }
}`,
};

function params(n: number, factor: number): Uint32Array {
  const p = new Uint32Array(2);
  p[0] = n;
  new Float32Array(p.buffer)[1] = factor;
  return p;
}

describe.skipIf(!gpu)('GpuContext', () => {
  const ctx = gpu!;

  it('names its adapter and reports the features it enabled', () => {
    expect(ctx.adapterName.length).toBeGreaterThan(0);
    expect(typeof ctx.features.shaderF16).toBe('boolean');
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
  });

  it('round-trips data through upload and read, including unaligned ranges', async () => {
    const data = new Uint8Array(37).map((_, i) => (i * 7 + 3) & 255);
    const buf = ctx.upload(data, 'bytes');
    const all = new Uint8Array(await ctx.read(buf, 0, 37));
    expect([...all]).toEqual([...data]);
    const mid = new Uint8Array(await ctx.read(buf, 5, 13));
    expect([...mid]).toEqual([...data.subarray(5, 18)]);
    buf.destroy();
  });

  it('counts the buffers it created until each is destroyed, once however often destroy() runs', () => {
    const before = ctx.liveBuffers;
    const a = ctx.createBuffer(100, 'counted a');
    const b = ctx.upload(new Float32Array(64), 'counted b');
    expect(ctx.liveBuffers).toEqual({ count: before.count + 2, bytes: before.bytes + a.size + b.size });
    a.destroy();
    a.destroy();
    expect(ctx.liveBuffers).toEqual({ count: before.count + 1, bytes: before.bytes + b.size });
    b.destroy();
    expect(ctx.liveBuffers).toEqual(before);
  });

  it('runs many dispatches with different params in one submit', async () => {
    const n = 1000;
    const src = ctx.upload(
      new Float32Array(n).map((_, i) => i + 1),
      'src',
    );
    const outs = Array.from({ length: 5 }, (_, i) => ctx.createBuffer(n * 4, `out${i}`));
    const pipeline = ctx.pipeline(scaleKernel);
    for (let round = 0; round < 2; round++) {
      const rec = ctx.recorder();
      outs.forEach((out, i) =>
        rec.dispatch(pipeline, params(n, i + 0.5 + round), [src, out], [Math.ceil(n / 64)]),
      );
      const back = rec.read(outs[4]!);
      rec.submit();
      const last = new Float32Array(await back);
      expect(last[n - 1]).toBe(n * (4.5 + round));
      for (let i = 0; i < 4; i++) {
        const got = new Float32Array(await ctx.read(outs[i]!));
        expect(got[7]).toBe(8 * (i + 0.5 + round));
      }
    }
    expect(ctx.pipeline(scaleKernel)).toBe(pipeline);
    expect(ctx.pipeline(scaleKernel, { WG: 32 })).not.toBe(pipeline);
  });

  it('keeps accesses past a binding in bounds, whether or not Dawn adds its own checks', async () => {
    // `n` past src's length: reads beyond it give 0 (the driver's robustBufferAccess, or Dawn's
    // clamp to the last element) and writes beyond dst are dropped, never another buffer's bytes.
    const src = ctx.upload(new Float32Array([1, 2, 3, 4]), 'src');
    const dst = ctx.createBuffer(8 * 4, 'dst');
    const neighbour = ctx.upload(new Float32Array(16).fill(5), 'neighbour');
    const rec = ctx.recorder();
    rec.dispatch(ctx.pipeline(scaleKernel), params(1 << 16, 2), [src, dst], [1024]);
    rec.submit();
    const got = [...new Float32Array(await ctx.read(dst))];
    expect(got.slice(0, 4)).toEqual([2, 4, 6, 8]);
    for (const v of got.slice(4)) expect([0, 8]).toContain(v);
    expect([...new Float32Array(await ctx.read(neighbour))]).toEqual(new Array(16).fill(5));
  });

  it('orders copies between dispatches within one step', async () => {
    const a = ctx.upload(new Float32Array([1, 2, 3, 4]), 'a');
    const b = ctx.createBuffer(16, 'b');
    const c = ctx.createBuffer(16, 'c');
    const rec = ctx.recorder();
    const pipeline = ctx.pipeline(scaleKernel);
    rec.dispatch(pipeline, params(4, 2), [a, b], [1]);
    rec.copy(b, 0, c, 0, 16);
    rec.dispatch(pipeline, params(4, 10), [c, b], [1]);
    rec.submit();
    expect([...new Float32Array(await ctx.read(b))]).toEqual([20, 40, 60, 80]);
  });

  it('surfaces device validation errors as GpuDeviceError', async () => {
    ctx.device.createShaderModule({ code: 'fn broken( {' });
    await expect(ctx.sync()).rejects.toBeInstanceOf(GpuDeviceError);
    await ctx.sync();
  });

  it('rejects workgroup counts beyond the device limit', () => {
    const rec = ctx.recorder();
    expect(() => rec.dispatch(ctx.pipeline(scaleKernel), params(1, 1), [], [1e6])).toThrow(KernelShapeError);
  });

  it('names the limit when more is asked than the adapter has', async () => {
    const asked = ctx.limits.maxBufferSize * 4;
    const error = await GpuContext.create({ requiredLimits: { maxBufferSize: asked } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GpuLimitError);
    expect(String((error as Error).message)).toContain('maxBufferSize');
  });
});
