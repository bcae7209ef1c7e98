// Roofline ceilings of this machine: what memory bandwidth and arithmetic the CPU (from
// JavaScript, all cores) and a WebGPU adapter actually reach. Kernels are judged against these.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { printTable, progress } from './console-report.js';
import { writeResult } from './result-writer.js';
import { adapterMethod, measureAdapter, type AdapterRoofline } from '@llm/kernels';

export { adapterMethod, measureAdapter, measureRead, type AdapterRead, type AdapterRoofline } from '@llm/kernels';

const GB = 1e9;
const MiB = 1 << 20;
// Independent x = x*m + c chains per worker: V8 keeps 14 doubles plus m and c in the 16 x64
// vector registers; 16 chains spill and ran 3x slower, fewer leave the FP units idle.
const CPU_CHAINS = 14;

export interface MachineRoofline {
  /** All cores summing disjoint slices of one Float64Array, bytes read per second / 1e9. */
  memoryReadGBps: number;
  /** All cores copying with TypedArray.set, (bytes read + bytes written) per second / 1e9 (STREAM's convention). */
  memoryCopyGBps: number;
  /** All cores running independent multiply-add chains on doubles (2 flops each), 1e9 flops per second. */
  cpuGflops: number;
  /** The same chains rounded to float32 after every operation (Math.fround), as Float32Array code runs. */
  cpuGflopsF32: number;
  threads: number;
  bufferBytes: number;
}

export const machineMethod =
  'worker_threads on every core, started together by an Atomics barrier, time = last end - first start; ' +
  'read: sum of a 1 GiB Float64Array (8-way unrolled, 4 accumulators) split into one slice per worker, best of 5; ' +
  'copy: TypedArray.set of its first half into its second half, slice per worker, best of 5; ' +
  `flops: ${CPU_CHAINS} independent x = x*m + c chains per worker in doubles (and with Math.fround after each operation for float32), best of 3.`;

// ---------------------------------------------------------------------------------------------
// CPU

/** A worker function running CPU_CHAINS multiply-add chains; `round` wraps every result (Math.fround for f32). */
function cpuFlopsSource(name: string, round: (expression: string) => string): string {
  const chains = Array.from({ length: CPU_CHAINS }, (_, k) => `a${k}`);
  return [
    `function ${name}(iterations, seed) {`,
    '  const f = Math.fround;',
    `  const m = ${round('seed[0]')}, c = ${round('seed[1]')};`,
    `  let ${chains.map((a, k) => `${a} = ${round(`seed[2] + ${k}`)}`).join(', ')};`,
    '  for (let i = 0; i < iterations; i++) {',
    ...chains.map((a) => `    ${a} = ${round(`${round(`${a} * m`)} + c`)};`),
    '  }',
    `  return ${chains.join(' + ')};`,
    '}',
  ].join('\n');
}

// Plain JavaScript evaluated in each worker: no TypeScript loader is needed there.
const workerSource = String.raw`
const { parentPort } = require('node:worker_threads');
const now = () => performance.timeOrigin + performance.now();

function read(f64, start, end) {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    s0 += f64[i] + f64[i + 4];
    s1 += f64[i + 1] + f64[i + 5];
    s2 += f64[i + 2] + f64[i + 6];
    s3 += f64[i + 3] + f64[i + 7];
  }
  for (; i < end; i++) s0 += f64[i];
  return s0 + s1 + s2 + s3;
}

function copy(f64, start, end, half) {
  f64.subarray(half + start, half + end).set(f64.subarray(start, end));
  return f64[half + start];
}

${cpuFlopsSource('flops64', (x) => x)}
${cpuFlopsSource('flops32', (x) => `f(${x})`)}
parentPort.on('message', (task) => {
  const gate = new Int32Array(task.gate);
  parentPort.postMessage({ ready: true });
  Atomics.wait(gate, 0, 0);
  const start = now();
  let value;
  if (task.kind === 'read') value = read(new Float64Array(task.buffer), task.start, task.end);
  else if (task.kind === 'copy') value = copy(new Float64Array(task.buffer), task.start, task.end, task.half);
  else if (task.kind === 'flops64') value = flops64(task.iterations, new Float64Array(task.seed));
  else value = flops32(task.iterations, new Float64Array(task.seed));
  parentPort.postMessage({ start, end: now(), value });
});
`;

type CpuTask =
  | { kind: 'read'; buffer: SharedArrayBuffer; start: number; end: number }
  | { kind: 'copy'; buffer: SharedArrayBuffer; start: number; end: number; half: number }
  | { kind: 'flops64' | 'flops32'; iterations: number; seed: SharedArrayBuffer };

interface WorkerReport {
  start: number;
  end: number;
  value: number;
}

class WorkerPool {
  private readonly workers: Worker[];

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => new Worker(workerSource, { eval: true }));
  }

  /** Runs one task per worker, all released at once; returns the wall time from first start to last end. */
  async run(taskFor: (worker: number) => CpuTask): Promise<{ seconds: number; values: number[] }> {
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const ready: Promise<unknown>[] = [];
    const done: Promise<WorkerReport>[] = [];
    this.workers.forEach((worker, index) => {
      const replies = nextMessages(worker, 2);
      ready.push(replies[0]!);
      done.push(replies[1]! as Promise<WorkerReport>);
      worker.postMessage({ ...taskFor(index), gate: gate.buffer });
    });
    const finished = Promise.all(done);
    // A worker that fails before it is ready fails `ready` too; that rejection is the one thrown.
    finished.catch(() => undefined);
    await Promise.all(ready);
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    const reports = await finished;
    const start = Math.min(...reports.map((report) => report.start));
    const end = Math.max(...reports.map((report) => report.end));
    return { seconds: (end - start) / 1000, values: reports.map((report) => report.value) };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/** The worker's next `count` messages, in order; all still pending reject if the worker fails. */
function nextMessages(worker: Worker, count: number): Promise<unknown>[] {
  const pending: { resolve: (message: unknown) => void; reject: (error: Error) => void }[] = [];
  const promises = Array.from(
    { length: count },
    () => new Promise<unknown>((resolve, reject) => pending.push({ resolve, reject })),
  );
  let received = 0;
  const onMessage = (message: unknown) => {
    pending[received]!.resolve(message);
    received += 1;
    if (received === count) detach();
  };
  const onError = (error: Error) => {
    for (const waiting of pending.slice(received)) waiting.reject(error);
    detach();
  };
  const detach = () => {
    worker.off('message', onMessage);
    worker.off('error', onError);
  };
  worker.on('message', onMessage);
  worker.on('error', onError);
  return promises;
}

/** Splits [0, length) into `parts` contiguous slices whose boundaries are multiples of `align`. */
function slice(length: number, parts: number, part: number, align: number): { start: number; end: number } {
  const bound = (k: number) => (k === parts ? length : Math.floor((length * k) / parts / align) * align);
  return { start: bound(part), end: bound(part + 1) };
}

async function best(times: number, measure: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < times; i += 1) top = Math.max(top, await measure());
  return top;
}

/**
 * Measures the CPU's memory bandwidth and arithmetic rate from JavaScript on every core.
 * `bufferBytes` (default 1 GiB) must dwarf the caches. Takes a few seconds.
 */
export async function measureMachine(
  options: { bufferBytes?: number; threads?: number } = {},
): Promise<MachineRoofline> {
  const bufferBytes = options.bufferBytes ?? 1024 * MiB;
  const threads = options.threads ?? availableParallelism();
  const pool = new WorkerPool(threads);
  try {
    const buffer = new SharedArrayBuffer(bufferBytes);
    const f64 = new Float64Array(buffer);
    // Non-zero data: untouched pages all map to the kernel's one zero page and would read from cache.
    for (let i = 0; i < f64.length; i += 1) f64[i] = (i % 1021) * 0.5 + 1;

    const memoryReadGBps = await best(5, async () => {
      const { seconds } = await pool.run((w) => ({
        kind: 'read',
        buffer,
        ...slice(f64.length, threads, w, 8),
      }));
      return bufferBytes / seconds / GB;
    });

    const half = Math.floor(f64.length / 2);
    const memoryCopyGBps = await best(5, async () => {
      const { seconds } = await pool.run((w) => ({
        kind: 'copy',
        buffer,
        half,
        ...slice(half, threads, w, 8),
      }));
      return (2 * half * 8) / seconds / GB;
    });

    // m < 1 and c > 0 keep every chain finite (it converges to c / (1 - m)).
    const seed = new Float64Array(new SharedArrayBuffer(3 * 8));
    seed.set([0.999_999, 1e-6, 0.5]);
    const flopsPerIteration = CPU_CHAINS * 2;
    const gflops = async (kind: 'flops64' | 'flops32') => {
      // Calibrate so that one measurement lasts about 0.3 s.
      const probe = 2_000_000;
      const { seconds } = await pool.run(() => ({
        kind,
        iterations: probe,
        seed: seed.buffer as SharedArrayBuffer,
      }));
      const iterations = Math.max(probe, Math.round((probe * 0.3) / seconds));
      return best(3, async () => {
        const run = await pool.run(() => ({ kind, iterations, seed: seed.buffer as SharedArrayBuffer }));
        if (!run.values.every(Number.isFinite)) throw new Error('multiply-add chains diverged');
        return (threads * iterations * flopsPerIteration) / run.seconds / GB;
      });
    };
    const cpuGflops = await gflops('flops64');
    const cpuGflopsF32 = await gflops('flops32');
    return { memoryReadGBps, memoryCopyGBps, cpuGflops, cpuGflopsF32, threads, bufferBytes };
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------------------------------------
// pnpm bench roofline

interface AdapterEntry {
  available: boolean;
  /** Short name for tables: vendor and architecture. */
  name?: string;
  description?: string;
  reason?: string;
  roofline?: AdapterRoofline;
}

async function measureDefaultAdapter(): Promise<AdapterEntry> {
  // Mesa's lavapipe warns on every start without it.
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  // Kept referenced until the device is destroyed: collecting it aborts the process.
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (adapter === null) return { available: false, reason: 'navigator.gpu.requestAdapter() returned null' };
  const { vendor, architecture, device: deviceName, description: adapterDescription } = adapter.info;
  const name = [vendor, architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const description = [vendor, architecture, deviceName, adapterDescription].filter(Boolean).join(' / ');
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  try {
    return { available: true, name, description, roofline: await measureAdapter(device) };
  } finally {
    device.destroy();
    void gpu;
  }
}

export async function main(args: readonly string[]): Promise<void> {
  if (args.length > 0) {
    process.stderr.write(`roofline takes no arguments, got: ${args.join(' ')}\n`);
    process.exit(2);
  }
  progress('CPU: read, copy and multiply-add rates on every core');
  const cpu = await measureMachine();
  progress('WebGPU: read, copy and fma rates on the default adapter');
  let adapter: AdapterEntry;
  try {
    adapter = await measureDefaultAdapter();
  } catch (error) {
    adapter = { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
  const path = await writeResult('roofline', {
    cpu: { ...cpu, method: machineMethod },
    adapter: { ...adapter, method: adapterMethod },
  });
  progress(`wrote ${path}`);
  printTable([
    {
      target: `CPU, JavaScript, ${cpu.threads} threads`,
      readGBps: cpu.memoryReadGBps,
      copyGBps: cpu.memoryCopyGBps,
      gflops: cpu.cpuGflops,
      gflopsF32: cpu.cpuGflopsF32,
    },
    adapter.roofline === undefined
      ? { target: `WebGPU unavailable (${adapter.reason})` }
      : {
          target: `WebGPU, ${adapter.name}`,
          readGBps: adapter.roofline.readGBps,
          copyGBps: adapter.roofline.copyGBps,
          gflops: adapter.roofline.gflops,
        },
  ]);
}
