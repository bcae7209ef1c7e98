// Weight streaming speed of `linear` on the matrix shapes of the 110M and 1.1B Llama models (fused
// QKV and gate/up included), with enough copies of each matrix in rotation (>= 256 MB) that no run
// is served from the CPU caches of a CPU adapter; the main thread yields as in the engine.
// Usage: tsx packages/kernels/bench/decode-shapes.ts [f32|f16 ...]   stdout: one JSON line per shape.
// Environment: M=tokens (default 1), SHAPE=NxK (one shape), KERNEL=stream|tile|reduce|matmul,
// STREAM_ROWS / STREAM_TOKENS (the stream kernel's shape), ROTATION_MB (default 256).
import { GpuContext, linear, uploadMatrix } from '../src/index.js';
import { yieldHostThread } from '../src/node/index.js';
import type { GpuDtype } from '@llm/quant';

const shapeArg = process.env['SHAPE'];
const SHAPES: Array<[number, number]> = shapeArg
  ? [shapeArg.split('x').map(Number) as [number, number]]
  : [
      [768, 768],
      [2304, 768],
      [4096, 768],
      [768, 2048],
      [32000, 768],
      [2560, 2048],
      [11264, 2048],
      [2048, 5632],
    ];
const ROTATION_BYTES = Number(process.env['ROTATION_MB'] ?? 256) * 1e6;
const rows = Number(process.env['STREAM_ROWS'] ?? 0);
const tokens = Number(process.env['STREAM_TOKENS'] ?? 1);
const M = Number(process.env['M'] ?? 1);
const dtypes = (process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['f32', 'f16']) as GpuDtype[];

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const ctx = await GpuContext.create();
yieldHostThread(ctx);
process.stderr.write(`adapter: ${ctx.adapterName}\n`);
for (const dtype of dtypes) {
  for (const [n, k] of SHAPES) {
    const bytesPer = n * k * (dtype === 'f32' ? 4 : 2);
    const copies = Math.max(2, Math.ceil(ROTATION_BYTES / bytesPer));
    const values = new Float32Array(n * k);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 0.1;
    const ws = Array.from({ length: copies }, () => uploadMatrix(ctx, values, n, k, dtype));
    const x = ctx.upload(new Float32Array(M * k).fill(0.5), 'x');
    const out = ctx.createBuffer(M * n * 4, 'out');
    // Wall time, and the process's CPU time (lavapipe's threads included) spread over 2 cores: on a
    // shared machine the second is the steadier estimate of the kernel's own cost.
    const run = async (): Promise<[number, number]> => {
      const rec = ctx.recorder();
      for (const w of ws)
        linear(rec, {
          x,
          w,
          out,
          m: M,
          ...(rows ? { streamShape: { rows, tokens } } : {}),
          ...(process.env['KERNEL'] ? { kernel: process.env['KERNEL'] as 'matmul' } : {}),
        });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      rec.submit();
      await ctx.sync();
      const cpu = process.cpuUsage(cpu0);
      return [performance.now() - t0, (cpu.user + cpu.system) / 1000 / 2];
    };
    await run();
    const walls: number[] = [];
    const cpus: number[] = [];
    for (let t = 0; t < 5; t++) {
      const [wall, cpu] = await run();
      walls.push(wall);
      cpus.push(cpu);
    }
    const median = (v: number[]): number => v.sort((a, b) => a - b)[2]!;
    const gbps = (ms: number): number => Number(((bytesPer * copies) / ms / 1e6).toFixed(2));
    process.stdout.write(
      `${JSON.stringify({ dtype, n, k, copies, GBps: gbps(median(walls)), cpuGBps: gbps(median(cpus)), gflops: Number(((2 * M * n * k * copies) / median(walls) / 1e6).toFixed(2)) })}\n`,
    );
    for (const w of ws) w.destroy();
    x.destroy();
    out.destroy();
  }
}
ctx.destroy();
