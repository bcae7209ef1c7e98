// Roofline ceilings of this machine: what memory bandwidth and arithmetic the CPU (from
// JavaScript, all cores) and a WebGPU adapter actually reach. Kernels are judged against these.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { printTable, progress } from './console-report.js';
import { writeResult } from './result-writer.js';

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

export interface AdapterRoofline {
  /** The best of a few simple WGSL kernels that stream-read a storage buffer as vec4<f32> and reduce it. */
  readGBps: number;
  /** Which kernel (and grid) gave readGBps. */
  readKernel: string;
  /** Best rate of each read kernel, GB/s. */
  readKernels: Record<string, number>;
  /** copyBufferToBuffer, (bytes read + bytes written) per second / 1e9. */
  copyGBps: number;
  /** A WGSL kernel of independent f32 fma() chains, 2 flops per fma. */
  gflops: number;
  bufferBytes: number;
  /** The workgroup counts that gave the reported read and fma rates. */
  readWorkgroups: number;
  fmaWorkgroups: number;
}

export const machineMethod =
  'worker_threads on every core, started together by an Atomics barrier, time = last end - first start; ' +
  'read: sum of a 1 GiB Float64Array (8-way unrolled, 4 accumulators) split into one slice per worker, best of 5; ' +
  'copy: TypedArray.set of its first half into its second half, slice per worker, best of 5; ' +
  `flops: ${CPU_CHAINS} independent x = x*m + c chains per worker in doubles (and with Math.fround after each operation for float32), best of 3.`;

export const adapterMethod =
  'wall clock from submit to onSubmittedWorkDone over enough back-to-back operations to take >= 0.2 s, fastest of 7 (a shared machine loses time to other work in some runs); ' +
  'read: the best of simple kernels streaming vec4<f32> loads over the largest storage binding up to 128 MiB, ' +
  'every sum checked: grid-stride with a workgroup tree reduction (64..4096 workgroups of 256), and one contiguous ' +
  'slab per workgroup of 8 or 64 invocations (256 and 4096 slabs; small workgroups without barriers suit CPU adapters); ' +
  'copy: copyBufferToBuffer of the same size; ' +
  'flops: 16 independent f32 fma() chains x 256 iterations per invocation, grids grown from 64 workgroups of 256.';

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
// WebGPU

interface ReadKernel {
  code: string;
  workgroupSize: number;
  /** Workgroup counts tried, best kept. */
  grids: readonly number[];
  /** Partial sums the kernel writes for a grid. */
  partials: (workgroups: number) => number;
}

// Grid-stride: at every step the invocations of the whole grid read one contiguous span, and each
// workgroup reduces its sums through workgroup memory. A CPU adapter wants few workgroups (each
// one costs a dispatch of its own), a large GPU wants enough to fill every core.
const gridStrideShader = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let stride = groups.x * 256u;
  let count = arrayLength(&src);
  var acc = vec4<f32>(0.0);
  for (var i = wid.x * 256u + lid; i < count; i += stride) {
    acc += src[i];
  }
  sums[lid] = acc.x + acc.y + acc.z + acc.w;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) {
      sums[lid] += sums[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partial[wid.x] = sums[0];
  }
}
`;

// One contiguous slab per workgroup, its invocations reading consecutive vec4s, one partial sum
// per invocation: no workgroup memory and no barrier, which lavapipe runs about twice as fast.
const slabShader = (size: number) => /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(${size})
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let count = arrayLength(&src);
  let slab = count / groups.x;
  let start = wid.x * slab;
  // The last slab also takes the remainder.
  let end = select(start + slab, count, wid.x == groups.x - 1u);
  var acc = vec4<f32>(0.0);
  for (var i = start + lid; i < end; i += ${size}u) {
    acc += src[i];
  }
  partial[wid.x * ${size}u + lid] = acc.x + acc.y + acc.z + acc.w;
}
`;

const READ_KERNELS: Record<string, ReadKernel> = {
  'grid-stride-256': {
    code: gridStrideShader,
    workgroupSize: 256,
    grids: [64, 256, 1024, 4096],
    partials: (workgroups) => workgroups,
  },
  'slab-64': { code: slabShader(64), workgroupSize: 64, grids: [256, 4096], partials: (w) => w * 64 },
  'slab-8': { code: slabShader(8), workgroupSize: 8, grids: [256, 4096], partials: (w) => w * 8 },
};

const FMA_WORKGROUP_SIZE = 256;
// Grown until one dispatch takes long enough that a larger grid cannot fill the device better.
const FMA_WORKGROUP_COUNTS = [64, 512, 4096];
const FMA_ITERATIONS = 256;
// Scalar f32 chains: a GPU's native FMA is scalar per invocation, and lavapipe packs invocations
// into SIMD lanes, so vec4 chains only multiply register pressure (measured 4-5x slower there).
// 16 independent chains hide the FMA latency.
const FMA_CHAINS = 16;

const chains = Array.from({ length: FMA_CHAINS }, (_, k) => `a${k}`);
const fmaShader = /* wgsl */ `
override ITERATIONS: u32 = 256;

@group(0) @binding(0) var<storage, read_write> result: array<f32>;
@group(0) @binding(1) var<uniform> coefficients: vec4<f32>;

@compute @workgroup_size(${FMA_WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = coefficients.x;
  let c = coefficients.y;
  // Start values depend on the invocation so the compiler cannot fold the chains together.
  let base = f32(gid.x) * 1e-6;
  ${chains.map((a, k) => `var ${a} = base + ${k}.0;`).join('\n  ')}
  for (var i = 0u; i < ITERATIONS; i++) {
    ${chains.map((a) => `${a} = fma(${a}, m, c);`).join('\n    ')}
  }
  result[gid.x] = ${chains.join(' + ')};
}
`;

// Each timing runs enough back-to-back operations to last this long, so that submission
// overhead and timer resolution stay below 1% even on a GPU where one operation takes microseconds.
const MIN_TIMED_SECONDS = 0.2;
// A command buffer this long is enough for any GPU; growth stops there.
const MAX_REPETITIONS = 4096;
const TIMED_RUNS = 7;

/** Seconds per operation: wall clock over back-to-back `encode`s lasting MIN_TIMED_SECONDS, fastest of TIMED_RUNS. */
async function timeOperation(
  device: GPUDevice,
  encode: (encoder: GPUCommandEncoder) => void,
  runs = TIMED_RUNS,
): Promise<number> {
  const run = async (repetitions: number) => {
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < repetitions; i += 1) encode(encoder);
    const commands = encoder.finish();
    const start = performance.now();
    device.queue.submit([commands]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - start) / 1000;
  };
  let repetitions = 1;
  // The first run also compiles and warms up; it is never kept.
  let seconds = await run(repetitions);
  seconds = await run(repetitions);
  while (seconds < MIN_TIMED_SECONDS && repetitions < MAX_REPETITIONS) {
    const factor = Math.max(2, Math.ceil((MIN_TIMED_SECONDS * 1.2) / Math.max(seconds, 1e-5)));
    repetitions = Math.min(MAX_REPETITIONS, repetitions * factor);
    seconds = await run(repetitions);
  }
  let bestSeconds = seconds;
  for (let i = 1; i < runs; i += 1) bestSeconds = Math.min(bestSeconds, await run(repetitions));
  return bestSeconds / repetitions;
}

function computePass(pipeline: GPUComputePipeline, bindings: GPUBindGroup, workgroups: number) {
  return (encoder: GPUCommandEncoder) => {
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindings);
    pass.dispatchWorkgroups(workgroups);
    pass.end();
  };
}

export type AdapterRead = Pick<
  AdapterRoofline,
  'readGBps' | 'readKernel' | 'readKernels' | 'readWorkgroups' | 'bufferBytes'
>;

/** The largest storage binding up to 128 MiB, whole vec4s. */
function streamBytes(device: GPUDevice): number {
  const limit = Math.min(128 * MiB, device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  return Math.floor(limit / 16) * 16;
}

/** Buffers created through `buffer` and destroyed together by `destroy`. */
function bufferSet(device: GPUDevice) {
  const created: GPUBuffer[] = [];
  return {
    buffer: (descriptor: GPUBufferDescriptor) => {
      const b = device.createBuffer(descriptor);
      created.push(b);
      return b;
    },
    destroy: () => {
      for (const b of created) b.destroy();
    },
  };
}

/** A source buffer holding a pattern whose sum is known; returns it with that sum. */
function patternSource(device: GPUDevice, bytes: number, buffer: (d: GPUBufferDescriptor) => GPUBuffer) {
  const src = buffer({
    size: bytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    mappedAtCreation: true,
  });
  const values = new Float32Array(src.getMappedRange());
  for (let i = 0; i < values.length; i += 1) values[i] = (i % 8) * 0.125;
  // Read before unmap, which detaches the array.
  const expected = (values.length / 8) * (0.125 * 28);
  src.unmap();
  return { src, expected };
}

/**
 * Measures a WebGPU device's read bandwidth: the best of the read kernels, each sum checked so the
 * measurement also proves the kernel read every element. Takes about ten seconds on lavapipe.
 */
export async function measureRead(device: GPUDevice): Promise<AdapterRead> {
  const bufferBytes = streamBytes(device);
  const { buffer, destroy } = bufferSet(device);
  try {
    const { src, expected } = patternSource(device, bufferBytes, buffer);
    const maxPartials = Math.max(
      ...Object.values(READ_KERNELS).flatMap((k) => k.grids.map((g) => k.partials(g))),
    );
    const partial = buffer({
      size: maxPartials * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const kernels = await Promise.all(
      Object.entries(READ_KERNELS).map(async ([name, kernel]) => {
        const pipeline = await device.createComputePipelineAsync({
          layout: 'auto',
          compute: { module: device.createShaderModule({ code: kernel.code }), entryPoint: 'main' },
        });
        const bindings = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: src } },
            { binding: 1, resource: { buffer: partial } },
          ],
        });
        return { name, kernel, pipeline, bindings };
      }),
    );
    // The first seconds of streaming in a process run slow (a third below later runs on lavapipe):
    // one pass over the kernels first, untimed.
    for (const { kernel, pipeline, bindings } of kernels) {
      await timeOperation(device, computePass(pipeline, bindings, kernel.grids.at(-1)!), 1);
    }
    let readSeconds = Infinity;
    let readWorkgroups = 0;
    let readKernel = '';
    const readKernels: Record<string, number> = {};
    for (const { name, kernel, pipeline, bindings } of kernels) {
      for (const workgroups of kernel.grids) {
        const seconds = await timeOperation(device, computePass(pipeline, bindings, workgroups));
        const sums = await readBack(device, partial, kernel.partials(workgroups) * 4, buffer);
        const total = sums.reduce((sum, x) => sum + x, 0);
        if (!(Math.abs(total - expected) <= 1e-3 * expected)) {
          throw new Error(
            `the ${name} read kernel summed ${total}, expected ${expected}: it did not read the whole buffer`,
          );
        }
        readKernels[name] = Math.max(readKernels[name] ?? 0, bufferBytes / seconds / GB);
        if (seconds < readSeconds) {
          [readSeconds, readWorkgroups, readKernel] = [seconds, workgroups, `${name} x ${workgroups}`];
        }
      }
    }
    return { readGBps: bufferBytes / readSeconds / GB, readKernel, readKernels, readWorkgroups, bufferBytes };
  } finally {
    destroy();
  }
}

/** Measures a WebGPU device's read bandwidth, copy bandwidth and f32 FMA rate. Takes a few seconds. */
export async function measureAdapter(device: GPUDevice): Promise<AdapterRoofline> {
  const read = await measureRead(device);
  const bufferBytes = read.bufferBytes;
  const { buffer, destroy } = bufferSet(device);
  try {
    const { src } = patternSource(device, bufferBytes, buffer);
    const dst = buffer({ size: bufferBytes, usage: GPUBufferUsage.COPY_DST });
    const copySeconds = await timeOperation(device, (encoder) => {
      encoder.copyBufferToBuffer(src, 0, dst, 0, bufferBytes);
    });

    const maxInvocations = Math.max(...FMA_WORKGROUP_COUNTS) * FMA_WORKGROUP_SIZE;
    const result = buffer({ size: maxInvocations * 4, usage: GPUBufferUsage.STORAGE });
    const coefficients = buffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(coefficients, 0, new Float32Array([0.999, 0.001, 0, 0]));
    const fmaPipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: {
        module: device.createShaderModule({ code: fmaShader }),
        entryPoint: 'main',
        constants: { ITERATIONS: FMA_ITERATIONS },
      },
    });
    const fmaBindings = device.createBindGroup({
      layout: fmaPipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: result } },
        { binding: 1, resource: { buffer: coefficients } },
      ],
    });
    let gflops = 0;
    let fmaWorkgroups = 0;
    for (const workgroups of FMA_WORKGROUP_COUNTS) {
      const seconds = await timeOperation(device, computePass(fmaPipeline, fmaBindings, workgroups));
      const flops = workgroups * FMA_WORKGROUP_SIZE * FMA_ITERATIONS * FMA_CHAINS * 2;
      if (flops / seconds / GB > gflops) [gflops, fmaWorkgroups] = [flops / seconds / GB, workgroups];
      // One dispatch already keeps the device busy for this long: a larger grid cannot fill it better.
      if (seconds > 0.05) break;
    }

    return {
      ...read,
      copyGBps: (2 * bufferBytes) / copySeconds / GB,
      gflops,
      fmaWorkgroups,
    };
  } finally {
    destroy();
  }
}

async function readBack(
  device: GPUDevice,
  source: GPUBuffer,
  size: number,
  buffer: (descriptor: GPUBufferDescriptor) => GPUBuffer,
): Promise<Float32Array> {
  const staging = buffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(source, 0, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  return copy;
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
