// CPU cost of recording and submitting a decode-sized step: 22 layers x 15 small dispatches,
// the same bindings every step (so bind groups come from the cache after the first).
// Usage: tsx packages/kernels/bench/step-overhead.ts   stdout: one JSON line.
import { GpuContext, add, linear, rmsNorm, uploadMatrix } from '../src/index.js';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create();
const dim = 64;
const layers = 22;
const w = uploadMatrix(ctx, new Float32Array(dim * dim).fill(0.01), dim, dim, 'f32');
const norm = ctx.upload(new Float32Array(dim).fill(1), 'norm');
const a = ctx.upload(new Float32Array(dim).fill(1), 'a');
const b = ctx.createBuffer(dim * 4, 'b');
const c = ctx.createBuffer(dim * 4, 'c');

function step(): void {
  const rec = ctx.recorder();
  for (let l = 0; l < layers; l++) {
    for (let i = 0; i < 5; i++) {
      rmsNorm(rec, { x: a, weight: norm, out: b, rows: 1, dim, eps: 1e-5 });
      linear(rec, { x: b, w, out: c, m: 1 });
      add(rec, { a: c, b: b, out: a, length: dim });
    }
  }
  rec.submit();
}
step();
await ctx.sync();
const steps = 20;
let recordMs = 0;
for (let s = 0; s < steps; s++) {
  const t0 = performance.now();
  step();
  recordMs += performance.now() - t0;
  await ctx.sync();
}
const result = { dispatchesPerStep: layers * 15, cpuMsPerStep: Number((recordMs / steps).toFixed(3)) };
process.stdout.write(`${JSON.stringify(result)}\n`);
ctx.destroy();
