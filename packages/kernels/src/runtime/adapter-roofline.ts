// Roofline ceilings of a WebGPU adapter: the read bandwidth and f32 FMA rate its kernels can
// reach, measured with small read and fma kernels. `pnpm bench roofline` reports them for the
// machine; the playground draws them as the roofs its steps are judged against.

const GB = 1e9;
const MiB = 1 << 20;

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

export const adapterMethod =
  'wall clock from submit to onSubmittedWorkDone over enough back-to-back operations to take >= 0.2 s, fastest of 7 (a shared machine loses time to other work in some runs); ' +
  'read: the best of simple kernels streaming vec4<f32> loads over the largest storage binding up to 128 MiB, ' +
  'every sum checked: grid-stride with a workgroup tree reduction (64..4096 workgroups of 256), and one contiguous ' +
  'slab per workgroup of 8 or 64 invocations (256 and 4096 slabs; small workgroups without barriers suit CPU adapters); ' +
  'copy: copyBufferToBuffer of the same size; ' +
  'flops: 16 independent f32 fma() chains x 256 iterations per invocation, grids grown from 64 workgroups of 256.';

/** How long and how large the measurement runs; the defaults are `pnpm bench roofline`'s. */
export interface AdapterRooflineOptions {
  /** Largest buffer streamed (default 128 MiB, capped by the adapter's binding limit). */
  maxBufferBytes?: number;
  /** Each timing runs back-to-back operations for at least this long (default 0.2 s). */
  minTimedSeconds?: number;
  /** Timings per operation, fastest kept (default 7). */
  runs?: number;
  /** Only the first read kernel at its largest grid, and one fma grid: a rough roof in well under a second. */
  quick?: boolean;
}

interface Timing {
  minTimedSeconds: number;
  runs: number;
}

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
const MAX_BUFFER_BYTES = 128 * MiB;
// A command buffer this long is enough for any GPU; growth stops there.
const MAX_REPETITIONS = 4096;
const TIMED_RUNS = 7;

/** Seconds per operation: wall clock over back-to-back `encode`s lasting MIN_TIMED_SECONDS, fastest of TIMED_RUNS. */
async function timeOperation(
  device: GPUDevice,
  encode: (encoder: GPUCommandEncoder) => void,
  { minTimedSeconds, runs }: Timing,
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
  while (seconds < minTimedSeconds && repetitions < MAX_REPETITIONS) {
    const factor = Math.max(2, Math.ceil((minTimedSeconds * 1.2) / Math.max(seconds, 1e-5)));
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

/** The largest storage binding up to maxBufferBytes, whole vec4s. */
function streamBytes(device: GPUDevice, maxBufferBytes: number): number {
  const limit = Math.min(maxBufferBytes, device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
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
export async function measureRead(device: GPUDevice, options: AdapterRooflineOptions = {}): Promise<AdapterRead> {
  const timing = timingOf(options);
  const bufferBytes = streamBytes(device, options.maxBufferBytes ?? MAX_BUFFER_BYTES);
  const readKernels = options.quick ? quickReadKernels() : READ_KERNELS;
  const { buffer, destroy } = bufferSet(device);
  try {
    const { src, expected } = patternSource(device, bufferBytes, buffer);
    const maxPartials = Math.max(
      ...Object.values(readKernels).flatMap((k) => k.grids.map((g) => k.partials(g))),
    );
    const partial = buffer({
      size: maxPartials * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const kernels = await Promise.all(
      Object.entries(readKernels).map(async ([name, kernel]) => {
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
      await timeOperation(device, computePass(pipeline, bindings, kernel.grids.at(-1)!), { ...timing, runs: 1 });
    }
    let readSeconds = Infinity;
    let readWorkgroups = 0;
    let readKernel = '';
    const rates: Record<string, number> = {};
    for (const { name, kernel, pipeline, bindings } of kernels) {
      for (const workgroups of kernel.grids) {
        const seconds = await timeOperation(device, computePass(pipeline, bindings, workgroups), timing);
        const sums = await readBack(device, partial, kernel.partials(workgroups) * 4, buffer);
        const total = sums.reduce((sum, x) => sum + x, 0);
        if (!(Math.abs(total - expected) <= 1e-3 * expected)) {
          throw new Error(
            `the ${name} read kernel summed ${total}, expected ${expected}: it did not read the whole buffer`,
          );
        }
        rates[name] = Math.max(rates[name] ?? 0, bufferBytes / seconds / GB);
        if (seconds < readSeconds) {
          [readSeconds, readWorkgroups, readKernel] = [seconds, workgroups, `${name} x ${workgroups}`];
        }
      }
    }
    return { readGBps: bufferBytes / readSeconds / GB, readKernel, readKernels: rates, readWorkgroups, bufferBytes };
  } finally {
    destroy();
  }
}

/** Measures a WebGPU device's read bandwidth, copy bandwidth and f32 FMA rate. Takes a few seconds. */
export async function measureAdapter(device: GPUDevice, options: AdapterRooflineOptions = {}): Promise<AdapterRoofline> {
  const timing = timingOf(options);
  const read = await measureRead(device, options);
  const bufferBytes = read.bufferBytes;
  const { buffer, destroy } = bufferSet(device);
  try {
    const { src } = patternSource(device, bufferBytes, buffer);
    const dst = buffer({ size: bufferBytes, usage: GPUBufferUsage.COPY_DST });
    const copySeconds = await timeOperation(device, (encoder) => {
      encoder.copyBufferToBuffer(src, 0, dst, 0, bufferBytes);
    }, timing);

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
    for (const workgroups of options.quick ? FMA_WORKGROUP_COUNTS.slice(0, 1) : FMA_WORKGROUP_COUNTS) {
      const seconds = await timeOperation(device, computePass(fmaPipeline, fmaBindings, workgroups), timing);
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

function timingOf(options: AdapterRooflineOptions): Timing {
  return { minTimedSeconds: options.minTimedSeconds ?? MIN_TIMED_SECONDS, runs: options.runs ?? TIMED_RUNS };
}

/** The quick measurement's read kernel: the barrier-free slab kernel at one grid, which suits CPU adapters and GPUs alike. */
function quickReadKernels(): Record<string, ReadKernel> {
  const slab = READ_KERNELS['slab-64']!;
  return { 'slab-64': { ...slab, grids: [256] } };
}
