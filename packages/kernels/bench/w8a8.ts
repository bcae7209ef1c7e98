// W8A8 prefill: `linearI8` (int8 weights x int8 activations with packed dot products,
// `dot4I8Packed`) against the f32 and f16 tile kernels of `linear` on the same shape, on the
// current adapter; then an experiment over Q8_0 blocks (llama.cpp's MMQ approach) against
// `linear`'s Q8_0 tile kernel.
// Usage: tsx packages/kernels/bench/w8a8.ts [N] [K] [m]
// stdout: one JSON line per kernel; progress on stderr.
//
// linearI8's time includes quantizing the activations (quantizeActivationsI8). The block variant
// reads the Q8_0 weights as `uploadMatrix` repacks them (32 int8 per group, a half scale per
// group) and quantizes the activations per token and group of 32 as well (Q8_0's own scheme,
// so no scale migration is needed): per group 8 packed dot products, then one multiply-add by
// the two scales.
import { quantize as quantizeWeights } from '@llm/quant';
import { GpuContext, linear, linearI8, quantizeActivationsI8, uploadI8Matrix, uploadMatrix, type GpuMatrix } from '../src/index.js';
import { cpuWorkgroup } from '../src/kernels/workgroup-grid.js';

const [nArg, kArg, mArg] = process.argv.slice(2);
const N = Number(nArg ?? 2048);
const K = Number(kArg ?? 768);
const M = Number(mArg ?? 128);
if (K % 128 !== 0 || N % 4 !== 0 || M % 8 !== 0) throw new Error('the Q8_0 experiment needs K % 128 == 0, N % 4 == 0, m % 8 == 0');

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create();
const device = ctx.device;
const lanes = ctx.subgroupSize ?? 8;
process.stderr.write(`adapter: ${ctx.adapterName}, subgroup ${lanes}\n`);

// Seeded uniform data (a 32-bit LCG): weights in [-0.1, 0.1), activations in [-1, 1).
let seed = 12345;
const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
const w = new Float32Array(N * K).map(() => uniform() * 0.1);
const x = new Float32Array(M * K).map(() => uniform());

const i8 = uploadI8Matrix(ctx, w, N, K);
const xf = ctx.upload(x, 'x-f32');
const xq = { q: ctx.createBuffer(M * i8.words * 16, 'xq'), scales: ctx.createBuffer(M * 4, 'x scales') };
const outI8 = ctx.createBuffer(M * N * 4, 'out-i8');
/** ms per rep of the activation quantization then the int8 product, `reps` times in one submit. */
const timeW8a8 = async (reps: number) => {
  const rec = ctx.recorder();
  for (let i = 0; i < reps; i++) {
    quantizeActivationsI8(rec, { x: xf, w: i8, m: M, out: xq });
    linearI8(rec, { x: xq, w: i8, out: outI8, m: M });
  }
  const t0 = performance.now();
  rec.submit();
  await ctx.sync();
  return (performance.now() - t0) / reps;
};

async function read(b: GPUBuffer, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(b, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return copy;
}

// W8A8's own error against the f32 product (the kernel's exactness is the tests' business).
await timeW8a8(1);
const got = await read(outI8, M * N * 4);
let errSq = 0;
let refSq = 0;
for (let t = 0; t < M; t++) {
  for (let n = 0; n < N; n++) {
    let f = 0;
    for (let k = 0; k < K; k++) f += w[n * K + k]! * x[t * K + k]!;
    errSq += (got[t * N + n]! - f) ** 2;
    refSq += f * f;
  }
}
process.stderr.write(`w8a8 vs f32 product: relative L2 ${Math.sqrt(errSq / refSq).toExponential(2)}\n`);

async function best(run: (reps: number) => Promise<number>): Promise<number> {
  await run(1);
  let ms = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 7; i++) ms = Math.min(ms, await run(3));
  return ms;
}

const flops = 2 * M * N * K;
const report = (kernel: string, ms: number, weightBytes: number) =>
  process.stdout.write(
    `${JSON.stringify({ adapter: ctx.adapterName, kernel, N, K, m: M, ms: Number(ms.toFixed(3)), gflops: Number((flops / ms / 1e6).toFixed(2)), weightBytes })}\n`,
  );

report('linearI8 (W8A8, incl. quantizeActivationsI8)', await best(timeW8a8), i8.weights.size);
const outF = ctx.createBuffer(M * N * 4, 'out-f32');
/** ms per rep of `linear` (the tile kernel at these m) on `wm`, `reps` times in one submit. */
const timeLinear = (wm: GpuMatrix) => async (reps: number) => {
  const rec = ctx.recorder();
  for (let i = 0; i < reps; i++) linear(rec, { x: xf, w: wm, out: outF, m: M });
  const t0 = performance.now();
  rec.submit();
  await ctx.sync();
  return (performance.now() - t0) / reps;
};
for (const dtype of ['f32', 'f16'] as const) {
  const wm = uploadMatrix(ctx, w, N, K, dtype);
  report(`linear ${dtype} (tile)`, await best(timeLinear(wm)), wm.byteLength);
  wm.destroy();
}

// The block experiment's own plumbing: raw buffers, pipelines and dispatches.
const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
function buffer(size: number, label: string): GPUBuffer {
  return device.createBuffer({ size, usage, label });
}
const R = [0, 1, 2, 3];
const k16 = K / 16;
const WORKGROUP = cpuWorkgroup(N / 4, lanes);
const matmulHeader = /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> ws: array<u32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
fn dot16(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}
`;
function pipeline(code: string, label: string): GPUComputePipeline {
  const module = device.createShaderModule({ code: code.includes('subgroup') ? `enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n${code}` : code, label });
  return device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
}
const bind = (p: GPUComputePipeline, buffers: GPUBuffer[]) =>
  device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: buffers.map((b, i) => ({ binding: i, resource: { buffer: b } })) });
type Dispatch = [GPUComputePipeline, GPUBindGroup, number];
/** ms per rep of the dispatches, `reps` times in one submit. */
async function timeDispatches(reps: number, dispatches: Dispatch[]): Promise<number> {
  const enc = device.createCommandEncoder();
  for (let i = 0; i < reps; i++) {
    const pass = enc.beginComputePass();
    for (const [p, group, workgroups] of dispatches) {
      pass.setPipeline(p);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(workgroups);
    }
    pass.end();
  }
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

// The block variant: Q8_0 weights, activations per token and group of 32.
const G = K / 32;
const q8 = uploadMatrix(ctx, quantizeWeights('q8_0', w), N, K, 'q8_0');
const q8Part = q8.parts[0]!;
const xqBlocks = buffer(M * K, 'x-i8-blocks');
const xsBlocks = buffer(M * G * 4, 'x-scale-blocks');
const outBlocks = buffer(M * N * 4, 'out-blocks');
// One invocation per (token, group): absmax / 127, 32 int8 values in two vec4<u32> stores.
const quantizeBlocksCode = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> xq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> xs: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  if (g >= ${M * G}u) { return; }
  var v: array<vec4<f32>, 8>;
  var m = vec4<f32>(0.0);
  for (var i = 0u; i < 8u; i++) { v[i] = x[g * 8u + i]; m = max(m, abs(v[i])); }
  let amax = max(max(m.x, m.y), max(m.z, m.w));
  xs[g] = amax / 127.0;
  let inv = select(0.0, 127.0 / amax, amax > 0.0);
  for (var h = 0u; h < 2u; h++) {
    xq[g * 2u + h] = vec4<u32>(
      pack4xI8(vec4<i32>(round(v[4u * h] * inv))), pack4xI8(vec4<i32>(round(v[4u * h + 1u] * inv))),
      pack4xI8(vec4<i32>(round(v[4u * h + 2u] * inv))), pack4xI8(vec4<i32>(round(v[4u * h + 3u] * inv))));
  }
}`;
// Tokens 8 at a time (16 measured slower); a lane holds half a group of each token's x and that
// group's scale, handed to the others by subgroupShuffle.
const BT = Array.from({ length: 8 }, (_, i) => i);
const blockMatmulCode = /* wgsl */ `${matmulHeader}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = min(gid.x, ${N / 4 - 1}u) * 4u;
  let live = gid.x < ${N / 4}u;
  ${R.map((r) => `let wr${r} = (n0 + ${r}u) * ${k16}u; let gr${r} = (n0 + ${r}u) * ${G}u;`).join('\n  ')}
  for (var t0 = 0u; t0 < ${M}u; t0 += ${BT.length}u) {
  ${BT.map((t) => `let xr${t} = (t0 + ${t}u) * ${k16}u; let xg${t} = (t0 + ${t}u) * ${G}u;`).join('\n  ')}
  ${BT.flatMap((t) => R.map((r) => `var a${t}_${r} = 0.0;`)).join('\n  ')}
  for (var c = 0u; c < ${k16}u; c += ${lanes}u) {
    ${BT.map((t) => `let xl${t} = xq[xr${t} + c + lane]; let sl${t} = xs[xg${t} + (c + lane) / 2u];`).join('\n    ')}
    for (var h = 0u; h < ${lanes / 2}u; h++) {
      let g = c / 2u + h;
      ${R.map((r) => `let wa${r} = w[wr${r} + 2u * g]; let wb${r} = w[wr${r} + 2u * g + 1u]; let d${r} = unpack2x16float(ws[(gr${r} + g) >> 1u])[(gr${r} + g) & 1u];`).join('\n      ')}
      ${BT.map((t) => `{
        let xa = subgroupShuffle(xl${t}, 2u * h); let xb = subgroupShuffle(xl${t}, 2u * h + 1u); let dx = subgroupShuffle(sl${t}, 2u * h);
        ${R.map((r) => `a${t}_${r} = fma(f32(dot16(wa${r}, xa) + dot16(wb${r}, xb)), d${r} * dx, a${t}_${r});`).join('\n        ')}
      }`).join('\n      ')}
    }
  }
  if (live) {
  ${BT.flatMap((t) => R.map((r) => `out[(t0 + ${t}u) * ${N}u + n0 + ${r}u] = a${t}_${r};`)).join('\n  ')}
  }
  }
}`;
const quantizeBlocks = pipeline(quantizeBlocksCode, 'quantize-x-q8-blocks');
const blockMatmul = pipeline(blockMatmulCode, 'matmul-w8a8-q8_0');
const quantizeBlocksGroup = bind(quantizeBlocks, [xf, xqBlocks, xsBlocks]);
const blockMatmulGroup = bind(blockMatmul, [q8Part.buffer, q8Part.scales!, xqBlocks, xsBlocks, outBlocks]);
const timeBlocks = (reps: number) =>
  timeDispatches(reps, [
    [quantizeBlocks, quantizeBlocksGroup, Math.ceil((M * G) / 64)],
    [blockMatmul, blockMatmulGroup, Math.ceil(N / 4 / WORKGROUP)],
  ]);
const runQ8 = timeLinear(q8);
await timeBlocks(1);
await runQ8(1);
const gotBlocks = await read(outBlocks, M * N * 4);
const wantQ8 = await read(outF, M * N * 4);
let blockErrSq = 0;
let q8Sq = 0;
for (let i = 0; i < gotBlocks.length; i++) {
  blockErrSq += (gotBlocks[i]! - wantQ8[i]!) ** 2;
  q8Sq += wantQ8[i]! ** 2;
}
process.stderr.write(`w8a8 over Q8_0 blocks vs the Q8_0 float-activation product: relative L2 ${Math.sqrt(blockErrSq / q8Sq).toExponential(2)}\n`);
report('w8a8 over Q8_0 blocks (incl. activation quantization per 32)', await best(timeBlocks), q8.byteLength);
report('linear q8_0 (tile)', await best(runQ8), q8.byteLength);
ctx.destroy();
