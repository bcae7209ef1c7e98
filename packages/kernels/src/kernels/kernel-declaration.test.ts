import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import { gpuForTests } from '../testing/index.js';
import { declareKernel, declaredKernel } from './kernel-declaration.js';
import { F16_NATIVE_STORAGE, F16_PACKED_STORAGE, F32_STORAGE } from './storage-format.js';

const gpu = await gpuForTests();

// Stand-ins for GPU buffers: the declaration only matches them by name.
const buffer = (label: string) => ({ label, size: 64 }) as unknown as GPUBuffer;

describe('declareKernel', () => {
  it('generates the params struct, the uniform and numbered bindings', () => {
    const decl = declareKernel({
      name: 'scale',
      params: { n: 'u32', factor: 'f32' },
      bindings: {
        src: { access: 'read', type: 'f32' },
        dst: { access: 'read_write', type: 'vec4<f32>' },
        table: { access: 'uniform', type: 'Table' },
      },
    });
    expect(decl.header).toBe(
      [
        'struct Params {',
        '  n: u32,',
        '  factor: f32,',
        '}',
        '@group(0) @binding(0) var<uniform> params: Params;',
        '@group(0) @binding(1) var<storage, read> src: array<f32>;',
        '@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;',
        '@group(0) @binding(3) var<uniform> table: Table;',
        '',
      ].join('\n'),
    );
    expect(decl.bindings).toEqual([
      { name: 'src', binding: 1 },
      { name: 'dst', binding: 2 },
      { name: 'table', binding: 3 },
    ]);
  });

  it('starts the bindings at 0 without params', () => {
    const decl = declareKernel({ name: 'copy', bindings: { a: { access: 'read', type: 'u32' } } });
    expect(decl.header).toBe('@group(0) @binding(0) var<storage, read> a: array<u32>;\n');
    expect(decl.paramsBytes).toBe(0);
  });

  it('lays out mixed u32, f32 and vector params by WGSL uniform alignment', () => {
    const decl = declareKernel({
      name: 'mixed',
      params: { a: 'u32', b: 'vec2<f32>', c: 'f32', d: 'vec4<u32>', e: 'i32' },
      bindings: {},
    });
    expect(decl.params.map((f) => [f.name, f.offset])).toEqual([
      ['a', 0],
      ['b', 8],
      ['c', 16],
      ['d', 32],
      ['e', 48],
    ]);
    // The struct's alignment is 16 (its vec4), so its size rounds 52 up to 64.
    expect(decl.paramsBytes).toBe(64);
    const bytes = decl.packParams({ a: 7, b: [0.5, -2], c: 3.25, d: [1, 2, 3, 0xffffffff], e: -5 });
    const view = new DataView(bytes.buffer);
    expect(bytes.byteLength).toBe(64);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getUint32(4, true)).toBe(0);
    expect(view.getFloat32(8, true)).toBe(0.5);
    expect(view.getFloat32(12, true)).toBe(-2);
    expect(view.getFloat32(16, true)).toBe(3.25);
    expect([0, 1, 2, 3].map((i) => view.getUint32(32 + 4 * i, true))).toEqual([1, 2, 3, 0xffffffff]);
    expect(view.getInt32(48, true)).toBe(-5);
  });

  it('pads a struct of scalars to 16 bytes', () => {
    const decl = declareKernel({
      name: 'n',
      params: { a: 'u32', b: 'u32', c: 'u32', d: 'u32', e: 'f32' },
      bindings: {},
    });
    expect(decl.paramsBytes).toBe(32);
    expect(declareKernel({ name: 'one', params: { a: 'u32' }, bindings: {} }).paramsBytes).toBe(16);
  });

  it('raises KernelShapeError for a missing, an extra or a mistyped param', () => {
    const decl = declareKernel({ name: 'k', params: { rows: 'u32', scale: 'f32' }, bindings: {} });
    expect(() => decl.packParams({ rows: 1 } as never)).toThrow(KernelShapeError);
    expect(() => decl.packParams({ rows: 1 } as never)).toThrow(/param scale is missing/);
    expect(() => decl.packParams({ rows: 1, scale: 1, cols: 2 } as never)).toThrow(/unknown param cols/);
    expect(() => decl.packParams({ rows: 1.5, scale: 1 })).toThrow(KernelShapeError);
    expect(() => decl.packParams({ rows: -1, scale: 1 })).toThrow(KernelShapeError);
    expect(() => decl.packParams({ rows: 2 ** 32, scale: 1 })).toThrow(KernelShapeError);
    expect(() => decl.packParams({ rows: [1] as never, scale: 1 })).toThrow(KernelShapeError);
    // f32 takes any number, NaN included (kernels pass NaN as a marker value).
    const bytes = decl.packParams({ rows: 1, scale: Number.NaN });
    expect(new DataView(bytes.buffer).getFloat32(4, true)).toBeNaN();
  });

  it('checks vector params have one number per component', () => {
    const decl = declareKernel({ name: 'v', params: { p: 'vec2<u32>' }, bindings: {} });
    expect(() => decl.packParams({ p: [1, 2, 3] })).toThrow(KernelShapeError);
    expect(() => decl.packParams({ p: [1, 0.5] })).toThrow(KernelShapeError);
    expect(() => decl.packParams({ p: 1 as never })).toThrow(KernelShapeError);
  });

  it('leaves absent optional bindings out and renumbers the ones after them', () => {
    const declare = (bias: boolean, residual: boolean) =>
      declareKernel({
        name: 'linear',
        params: { k: 'u32' },
        bindings: {
          x: { access: 'read', type: 'f32' },
          out: { access: 'read_write', type: 'f32' },
          bias: { access: 'read', type: 'f32', present: bias },
          residual: { access: 'read', type: 'f32', present: residual },
        },
      });
    expect(declare(true, true).bindings.map((b) => b.binding)).toEqual([1, 2, 3, 4]);
    const residualOnly = declare(false, true);
    expect(residualOnly.bindings).toEqual([
      { name: 'x', binding: 1 },
      { name: 'out', binding: 2 },
      { name: 'residual', binding: 3 },
    ]);
    expect(residualOnly.header).toContain('@group(0) @binding(3) var<storage, read> residual: array<f32>;');
    expect(residualOnly.header).not.toContain('bias');
  });

  it('orders buffers by binding, matched by name', () => {
    const decl = declareKernel({
      name: 'linear',
      params: { k: 'u32' },
      bindings: {
        x: { access: 'read', type: 'f32' },
        out: { access: 'read_write', type: 'f32' },
        bias: { access: 'read', type: 'f32', present: false },
        residual: { access: 'read', type: 'f32', present: true },
      },
    });
    const [x, out, residual] = [buffer('x'), buffer('out'), buffer('residual')];
    expect(decl.buffers({ residual, out, x })).toEqual([x, out, residual]);
    expect(decl.buffers({ residual, out, x, bias: undefined })).toEqual([x, out, residual]);
    expect(() => decl.buffers({ out, x })).toThrow(/binding residual is missing/);
    expect(() => decl.buffers({ residual, out, x, bias: buffer('bias') })).toThrow(
      /bias is not part of this variant/,
    );
    expect(() => decl.buffers({ residual, out, x, extra: buffer('e') } as never)).toThrow(KernelShapeError);
  });

  it('reads storage formats through generated loaders and enables what they need', () => {
    const packed = declareKernel({
      name: 'w',
      bindings: { w: { access: 'read', format: F16_PACKED_STORAGE, unit: 'vec4', load: 'load_w' } },
    });
    expect(packed.header).toBe(
      [
        '@group(0) @binding(0) var<storage, read> w: array<vec2<u32>>;',
        'fn load_w(i: u32) -> vec4<f32> {',
        '  let packed = w[i];',
        '  return vec4<f32>(unpack2x16float(packed.x), unpack2x16float(packed.y));',
        '}',
        '',
      ].join('\n'),
    );
    const native = declareKernel({
      name: 'w',
      bindings: { kv: { access: 'read', format: F16_NATIVE_STORAGE, unit: 'scalar', load: 'kvAt' } },
      enable: ['subgroups'],
    });
    expect(native.header.startsWith('enable subgroups;\nenable f16;\n')).toBe(true);
    expect(native.header).toContain('var<storage, read> kv: array<f16>;');
    expect(native.header).toContain('fn kvAt(i: u32) -> f32 {\n  return f32(kv[i]);\n}');
  });
});

describe.skipIf(!gpu)('dispatchKernel', () => {
  const ctx = gpu!;

  it('packs params where the device reads them and binds buffers by name', async () => {
    const declaration = declareKernel({
      name: 'echo',
      params: { a: 'u32', b: 'vec2<f32>', c: 'f32', d: 'vec4<u32>', e: 'i32' },
      bindings: {
        src: { access: 'read', format: F32_STORAGE, unit: 'scalar', load: 'srcAt' },
        skipped: { access: 'read', type: 'f32', present: false },
        out: { access: 'read_write', type: 'f32' },
      },
    });
    const kernel = declaredKernel(
      'echo',
      declaration,
      /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  out[0] = f32(params.a);
  out[1] = params.b.x;
  out[2] = params.b.y;
  out[3] = params.c;
  for (var i = 0u; i < 4u; i++) { out[4u + i] = f32(params.d[i]); }
  out[8] = f32(params.e);
  out[9] = srcAt(1u);
}`,
    );
    const src = ctx.upload(new Float32Array([5, 6]), 'src');
    const out = ctx.createBuffer(10 * 4, 'out');
    const rec = ctx.recorder();
    rec.dispatchKernel(kernel, { a: 7, b: [0.5, -2], c: 3.25, d: [1, 2, 3, 4], e: -5 }, { out, src }, [1]);
    expect(() => rec.dispatchKernel(kernel, { a: 1 } as never, { out, src }, [1])).toThrow(KernelShapeError);
    expect(() =>
      rec.dispatchKernel(kernel, { a: 7, b: [0, 0], c: 0, d: [0, 0, 0, 0], e: 0 }, { out } as never, [1]),
    ).toThrow(/binding src is missing/);
    rec.submit();
    const got = [...new Float32Array(await ctx.read(out, 0, 10 * 4))];
    expect(got).toEqual([7, 0.5, -2, 3.25, 1, 2, 3, 4, -5, 6]);
    src.destroy();
    out.destroy();
  });
});
