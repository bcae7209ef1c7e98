// Shader compile time of every kernel variant on the current adapter (lavapipe compiles WGSL to
// native code with LLVM, so this is the first-use cost of each pipeline).
// Usage: tsx packages/kernels/bench/compile-times.ts   stdout: one JSON line per kernel.
import { GpuContext } from '../src/index.js';
import { argmaxWgsl } from '../src/kernels/argmax.wgsl.js';
import { matmulWgsl, matvecShape, matvecWgsl } from '../src/kernels/linear.wgsl.js';
import { pagedAttentionNaiveWgsl } from '../src/kernels/paged-attention-naive.wgsl.js';
import { rmsNormWgsl } from '../src/kernels/rms-norm.wgsl.js';
import { ropeWgsl } from '../src/kernels/rope.wgsl.js';
import { sampleWgsl } from '../src/kernels/sample.wgsl.js';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create();
const kernels: Array<[string, string]> = [
  ['matvec f32 rows1', matvecWgsl({ read: 'f32', bias: false, residual: false }, 1, matvecShape(true))],
  ['matvec f32 rows8', matvecWgsl({ read: 'f32', bias: false, residual: false }, 8, matvecShape(true))],
  [
    'matvec f16 rows1',
    matvecWgsl({ read: 'f16-native', bias: false, residual: false }, 1, matvecShape(true)),
  ],
  ['matmul f32', matmulWgsl({ read: 'f32', bias: false, residual: false })],
  ['rms-norm', rmsNormWgsl()],
  ['rope', ropeWgsl({ layout: 'adjacent', freqFactors: false, fused: false })],
  ['argmax', argmaxWgsl()],
  ['sample', sampleWgsl()],
  ['paged-attention-naive', pagedAttentionNaiveWgsl({ dtype: 'f32', shaderF16: false })],
];
// An empty params struct makes every kernel exit at once, so the first dispatch's time is the
// driver's compile.
const zeros = new Uint32Array(16);
for (const [name, code] of kernels) {
  const t0 = performance.now();
  const pipeline = ctx.pipeline({ name, code });
  const layout = pipeline.getBindGroupLayout(0);
  const created = performance.now();
  const buffers: GPUBuffer[] = [];
  const bindings = (code.match(/@binding\((\d+)\)/g) ?? []).length;
  for (let i = 1; i < bindings; i++) buffers.push(ctx.createBuffer(64, `b${i}`));
  void layout;
  const rec = ctx.recorder();
  rec.dispatch(pipeline, zeros, buffers, [1]);
  rec.submit();
  await ctx.sync();
  const done = performance.now();
  process.stdout.write(
    `${JSON.stringify({ kernel: name, createMs: Math.round(created - t0), firstDispatchMs: Math.round(done - created) })}\n`,
  );
}
ctx.destroy();
