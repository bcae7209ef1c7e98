// Shader compile time of every kernel variant on the current adapter (lavapipe compiles WGSL to
// native code with LLVM, so this is the first-use cost of each pipeline).
// Usage: tsx packages/kernels/bench/compile-times.ts   stdout: one JSON line per kernel.
import { F16_NATIVE_STORAGE, F16_PACKED_STORAGE, F32_STORAGE, GpuContext, declaredKernel } from '../src/index.js';
import type { BindingDecl, ParamType } from '../src/index.js';
import { argmaxKernel } from '../src/kernels/argmax.wgsl.js';
import type { KernelParts } from '../src/kernels/kernel-cache.js';
import { matmulKernel, reduceMatvecKernel, streamMatvecKernel } from '../src/kernels/linear.wgsl.js';
import { pagedAttentionNaiveKernel } from '../src/kernels/paged-attention-naive.wgsl.js';
import { rmsNormKernel } from '../src/kernels/rms-norm.wgsl.js';
import { ropeKernel } from '../src/kernels/rope.wgsl.js';
import { sampleKernel } from '../src/kernels/sample.wgsl.js';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create();
const f32 = { weights: F32_STORAGE, bias: false, residual: false, epilogue: 'store' as const };
const code = <P extends Record<string, ParamType>, B extends Record<string, BindingDecl>>(
  parts: KernelParts<P, B>,
): string => declaredKernel('bench', parts.declaration, parts.body).code;
const kernels: Array<[string, string]> = [
  ['matvec-stream f32 t1', code(streamMatvecKernel(f32, { rows: 1, tokens: 1, workgroup: 64, subgroup: 8 }))],
  ['matvec-stream f32 t4', code(streamMatvecKernel(f32, { rows: 1, tokens: 4, workgroup: 64, subgroup: 8 }))],
  ['matvec-stream f16 t1', code(streamMatvecKernel({ ...f32, weights: F16_PACKED_STORAGE }, { rows: 1, tokens: 1, workgroup: 64, subgroup: 8 }))],
  ['matvec-reduce f16 t1', code(reduceMatvecKernel({ ...f32, weights: F16_NATIVE_STORAGE }, { rows: 1, tokens: 1, workgroup: 64, vec4: true }))],
  ['matmul f32', code(matmulKernel(f32))],
  ['rms-norm', code(rmsNormKernel())],
  ['rope', code(ropeKernel({ layout: 'adjacent', freqFactors: false, fused: false }))],
  ['argmax', code(argmaxKernel())],
  ['sample', code(sampleKernel())],
  ['paged-attention-naive', code(pagedAttentionNaiveKernel(F32_STORAGE))],
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
