import { GpuContext } from '../src/index.js';
import { matvecWgsl } from '../src/kernels/linear.wgsl.js';
import { uploadMatrix } from '../src/kernels/matrix.js';
import { packParams } from '../src/kernels/kernel-args.js';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create();
const N = 4096, K = 4096;
const values = new Float32Array(N * K).map((_, i) => Math.sin(i) * 0.1);
const wf32 = uploadMatrix(ctx, values, N, K, 'f32');
const wf16 = uploadMatrix(ctx, values, N, K, 'f16');
const x = ctx.upload(new Float32Array(8 * K).fill(0.5), 'x');
const out = ctx.createBuffer(8 * N * 4, 'out');

function xvec4(code: string, rows: number): string {
  // x as vec4: replace scalar loads with one vec4 per row per 4 k.
  let c = code.replace('var<storage, read> x: array<f32>;', 'var<storage, read> x: array<vec4<f32>>;');
  for (let i = 0; i < rows; i++) {
    c = c.replace(`acc${i} += x[xb${i} + kk] * w0 + x[xb${i} + kk + 1u] * w1 + x[xb${i} + kk + 2u] * w2 + x[xb${i} + kk + 3u] * w3;`,
      `let xv${i} = x[(xb${i} + kk) / 4u];\n    acc${i} += xv${i}.x * w0 + xv${i}.y * w1 + xv${i}.z * w2 + xv${i}.w * w3;`);
    c = c.replace(`acc${i} += x[xb${i} + kk] * w0;`, `acc${i} += x[(xb${i} + kk) / 4u][(xb${i} + kk) % 4u] * w0;`);
  }
  return c;
}
const variants: Array<[string, string, GPUBuffer, number]> = [];
for (const rows of [1, 4, 8]) {
  const base = matvecWgsl({ read: 'f32', bias: false, residual: false }, rows);
  variants.push([`f32 r${rows} scalar-x`, base, wf32.parts[0]!.buffer, rows]);
  variants.push([`f32 r${rows} vec4-x`, xvec4(base, rows), wf32.parts[0]!.buffer, rows]);
  const h = matvecWgsl({ read: 'f16-native', bias: false, residual: false }, rows);
  variants.push([`f16n r${rows} vec4-x`, xvec4(h, rows), wf16.parts[0]!.buffer, rows]);
  const hp = matvecWgsl({ read: 'f16-packed', bias: false, residual: false }, rows);
  variants.push([`f16p r${rows} vec4-x`, xvec4(hp, rows), wf16.parts[0]!.buffer, rows]);
}
const best = new Map<string, number>();
for (let round = 0; round < 5; round++) {
  for (const [name, code, wbuf, rows] of variants) {
    const pl = ctx.pipeline({ name, code });
    const rec = ctx.recorder();
    for (let i = 0; i < 3; i++) rec.dispatch(pl, packParams([K, N / 4, N, 0, N, 0, rows]), [x, wbuf, out], [N / 4 / 64]);
    const t0 = performance.now();
    rec.submit();
    await ctx.sync();
    const ms = (performance.now() - t0) / 3;
    best.set(name, Math.min(best.get(name) ?? Infinity, ms));
  }
}
for (const [name, ms] of best) {
  const bytes = name.startsWith('f32') ? N * K * 4 : N * K * 2;
  console.log(name.padEnd(22), ms.toFixed(2).padStart(8), 'ms', (bytes / ms / 1e6).toFixed(2).padStart(6), 'GB/s');
}
ctx.destroy();
