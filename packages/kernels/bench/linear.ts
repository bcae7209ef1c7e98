// Matvec / matmul throughput of `linear` on the current adapter.
// Usage: tsx packages/kernels/bench/linear.ts [--portable] [--types f16,q4_k,...] [N] [K] [m...]
//   --portable: leave shader-f16 and subgroups off (the paths that work on every adapter)
//   --types: weight types to measure (default f32,f16); block types are quantized at upload
// stdout: one JSON line per configuration; progress on stderr.
import { GpuContext, linear, uploadMatrix } from '../src/index.js';
import { GPU_DTYPES, isOneOf, MATRIX_DTYPES, type MatrixDtype } from '@llm/quant';

const args = process.argv.slice(2);
const portable = args.includes('--portable');
const typesAt = args.indexOf('--types');
const types: MatrixDtype[] =
  typesAt < 0
    ? [...GPU_DTYPES]
    : (args[typesAt + 1] ?? '').split(',').map((t) => {
        if (!isOneOf(MATRIX_DTYPES, t)) throw new Error(`--types: ${t} is not one of ${MATRIX_DTYPES.join(', ')}`);
        return t;
      });
const [nArg, kArg, ...mArgs] = args.filter((a, i) => a !== '--portable' && a !== '--types' && i !== typesAt + 1);
const N = Number(nArg ?? 4096);
const K = Number(kArg ?? 4096);
const ms = mArgs.length > 0 ? mArgs.map(Number) : [1, 4, 8, 64];

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create(portable ? { disableFeatures: ['shaderF16', 'subgroups'] } : {});
process.stderr.write(`adapter: ${ctx.adapterName}\n`);
const values = new Float32Array(N * K);
for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 0.1;

for (const dtype of types) {
  const w = uploadMatrix(ctx, values, N, K, dtype);
  for (const m of ms) {
    const x = ctx.upload(new Float32Array(m * K).fill(0.5), 'x');
    const out = ctx.createBuffer(m * N * 4, 'out');
    const run = async (reps: number): Promise<[number, number]> => {
      const rec = ctx.recorder();
      for (let i = 0; i < reps; i++) linear(rec, { x, w, out, m });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      rec.submit();
      await ctx.sync();
      const cpu = process.cpuUsage(cpu0);
      return [(performance.now() - t0) / reps, (cpu.user + cpu.system) / 1000 / reps];
    };
    await run(1);
    // Best of several: the machine may be shared, and the minimum is the kernel's own time. On a
    // CPU adapter the process's CPU time per run is reported too: divided by the cores it used,
    // it estimates the wall time on an otherwise idle machine.
    let ms1 = Number.POSITIVE_INFINITY;
    let cpuMs = Number.POSITIVE_INFINITY;
    for (let t = 0; t < 7; t++) {
      const [wall, cpu] = await run(3);
      ms1 = Math.min(ms1, wall);
      cpuMs = Math.min(cpuMs, cpu);
    }
    const bytes = w.byteLength;
    const result = {
      adapter: ctx.adapterName,
      dtype,
      N,
      K,
      m,
      ms: Number(ms1.toFixed(3)),
      weightGBps: Number((bytes / ms1 / 1e6).toFixed(2)),
      gflops: Number(((2 * m * N * K) / ms1 / 1e6).toFixed(2)),
      shaderF16: ctx.features.shaderF16,
      subgroups: ctx.features.subgroups,
      cpuMs: Number(cpuMs.toFixed(3)),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    x.destroy();
    out.destroy();
  }
  w.destroy();
}
ctx.destroy();
