// The published declarations use the WebGPU types (GPUBuffer, ...): consumers get them from the
// @webgpu/types dependency without configuring `types` themselves.
/// <reference types="@webgpu/types" preserve="true" />
import { LlmError } from '@llm/quant';
import { GpuDeviceError, GpuFeatureError, GpuLimitError, GpuUnavailableError } from './errors.js';
import { KernelProfiler, type KernelProfile } from './kernel-profile.js';
import { StepRecorder } from './step-recorder.js';

/** Optional WebGPU features the kernels use when the adapter has them. */
export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
}

export type GpuFeatureName = keyof GpuFeatures;

/** Device limits a caller needs; each must not exceed the adapter's. */
export interface GpuRequiredLimits {
  maxStorageBufferBindingSize?: number;
  maxBufferSize?: number;
  maxComputeWorkgroupStorageSize?: number;
  maxStorageBuffersPerShaderStage?: number;
}

export interface GpuContextOptions {
  requiredLimits?: GpuRequiredLimits;
  /** Features to leave off even when the adapter has them (to run the portable paths). */
  disableFeatures?: readonly GpuFeatureName[];
  powerPreference?: GPUPowerPreference;
  /**
   * Dawn for Node only: whether Dawn clamps every array index in the WGSL it compiles. By default
   * it does not on Linux, where Dawn runs on Vulkan with robustBufferAccess, so the driver already
   * keeps every access in bounds (out-of-bounds reads give 0, writes are dropped) and the second
   * check only costs time: on lavapipe it made the matvec kernels 15-35 % slower. Elsewhere
   * (Metal, D3D12) the checks stay on. Browsers always check.
   */
  shaderBoundsChecks?: boolean;
}

/** Buffers created through a {@link GpuContext} and not yet destroyed. */
export interface LiveBufferStats {
  count: number;
  bytes: number;
}

/** A kernel source: `name` labels the pipeline, `code` is the WGSL text. */
export interface KernelSource {
  name: string;
  code: string;
}

// GPUBufferUsage / GPUMapMode values, spelled out so this module does not depend on the globals
// being installed (Node's `webgpu` package provides them only through `globals`).
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
const MAP_MODE_READ = 0x0001;

const FEATURE_NAMES: Record<GpuFeatureName, GPUFeatureName> = {
  shaderF16: 'shader-f16',
  subgroups: 'subgroups',
  timestampQuery: 'timestamp-query',
};

// Requested at the adapter's maximum: weights want the largest bindings and buffers, and kernels
// size their workgroups and tiles from these. The rest keep their defaults.
const LIMITS_AT_MAX = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
] as const;

interface WebGpuModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** An adapter's name for people: its description, else its device, else vendor and architecture. */
export function adapterDisplayName(info: GPUAdapterInfo): string {
  return (
    info.description ||
    info.device ||
    [info.vendor, info.architecture].filter(Boolean).join(' ') ||
    'unknown adapter'
  );
}

async function acquireGpu(shaderBoundsChecks: boolean | undefined): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  // A variable specifier keeps browser bundlers from trying to resolve the Node-only package.
  const specifier = 'webgpu';
  let mod: WebGpuModule;
  try {
    mod = (await import(/* @vite-ignore */ specifier)) as WebGpuModule;
  } catch (cause) {
    // `webgpu` (Dawn) is an optional peer dependency: browsers have navigator.gpu instead.
    const missing = (cause as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    throw new GpuUnavailableError(
      missing
        ? 'WebGPU is not available: no navigator.gpu, and the `webgpu` package (Dawn for Node, an ' +
            'optional peer dependency of @llm/kernels) is not installed: run `npm install webgpu`'
        : 'WebGPU is not available: no navigator.gpu, and the `webgpu` package could not be loaded ' +
            `(${String(cause)}); reinstall \`webgpu\` or run in a browser with WebGPU enabled`,
    );
  }
  const g = globalThis as Record<string, unknown>;
  if (g['GPUBufferUsage'] === undefined) Object.assign(globalThis, mod.globals);
  // Dawn rounds timestamps down to 2^16 ns unless told not to: a browser's defence against timing
  // attacks, of no use in Node, and too coarse for the kernel profile's per-dispatch times.
  const platform = (globalThis as { process?: { platform?: string } }).process?.platform;
  const boundsChecks = shaderBoundsChecks ?? platform !== 'linux';
  return mod.create([
    'disable-dawn-features=timestamp_quantization',
    ...(boundsChecks ? [] : ['enable-dawn-features=disable_robustness']),
  ]);
}

/**
 * One WebGPU device with a pipeline cache, buffer helpers, pooled read-back staging and a
 * per-step uniform arena. Kernels are recorded through {@link GpuContext.recorder}.
 */
export class GpuContext {
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly adapterName: string;
  /**
   * The adapter runs on the CPU (lavapipe/llvmpipe, SwiftShader): one core per workgroup and one
   * SIMD lane per invocation, so kernels prefer few, wide workgroups without reductions.
   */
  readonly isCpuAdapter: boolean;
  /** The adapter's subgroup size when it is fixed (subgroupMinSize == subgroupMaxSize), else undefined. */
  readonly subgroupSize: number | undefined;
  /** Errors the device reported outside any error scope, surfaced by read() and sync(). */
  private readonly pendingErrors: string[] = [];
  private readonly pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  private pipelinesBySource = new WeakMap<KernelSource, Map<string, GPUComputePipeline>>();
  private readonly pipelineIds = new WeakMap<GPUComputePipeline, number>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly stagingPool: GPUBuffer[] = [];
  private uniformArena: GPUBuffer | undefined;
  private readonly scratchBuffers = new Map<string, GPUBuffer>();
  private readonly retiredScratch: GPUBuffer[] = [];
  private liveCount = 0;
  private liveBytes = 0;
  private lost: string | undefined;
  private destroyed = false;
  /** @internal The running profile (see startProfile), read by StepRecorder.submit. */
  profiler: KernelProfiler | undefined;
  /** Uniform offsets must be multiples of this (256 on most GPUs, 16 on lavapipe). */
  readonly uniformAlignment: number;

  private constructor(
    readonly device: GPUDevice,
    features: GpuFeatures,
    adapterName: string,
    isCpuAdapter: boolean,
    subgroupSize: number | undefined,
    // The object that owns the native instance: when it is garbage-collected while a device
    // lives, Dawn aborts the process, so the context holds it for its whole life.
    private readonly gpu: GPU,
  ) {
    this.features = features;
    this.limits = device.limits;
    this.adapterName = adapterName;
    this.isCpuAdapter = isCpuAdapter;
    this.subgroupSize = subgroupSize;
    this.uniformAlignment = Math.max(16, device.limits.minUniformBufferOffsetAlignment);
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(error.message);
    });
    void device.lost.then((info) => {
      if (!this.destroyed) this.lost = `${info.reason}: ${info.message}`;
    });
  }

  /** Why the device was lost ('reason: message'), or undefined while it works; a lost device fails every later submit. */
  get lostReason(): string | undefined {
    return this.lost;
  }

  static async create(opts: GpuContextOptions = {}): Promise<GpuContext> {
    const gpu = await acquireGpu(opts.shaderBoundsChecks);
    const adapterOptions: GPURequestAdapterOptions = {};
    if (opts.powerPreference) adapterOptions.powerPreference = opts.powerPreference;
    const adapter = await gpu.requestAdapter(adapterOptions);
    if (!adapter) {
      throw new GpuUnavailableError(
        'WebGPU has no adapter: install a Vulkan/Metal/D3D12 driver (on a machine without a GPU, ' +
          "Mesa's lavapipe) or enable WebGPU in the browser",
      );
    }
    const requiredLimits: Record<string, number> = {};
    for (const name of LIMITS_AT_MAX) requiredLimits[name] = adapter.limits[name];
    for (const [name, requested] of Object.entries(opts.requiredLimits ?? {})) {
      const available = adapter.limits[name as keyof GPUSupportedLimits] as number;
      if (requested > available) throw new GpuLimitError(name, requested, available);
    }
    const disabled = new Set(opts.disableFeatures ?? []);
    const features: GpuFeatures = { shaderF16: false, subgroups: false, timestampQuery: false };
    const requiredFeatures: GPUFeatureName[] = [];
    for (const key of Object.keys(FEATURE_NAMES) as GpuFeatureName[]) {
      const name = FEATURE_NAMES[key];
      if (adapter.features.has(name) && !disabled.has(key)) {
        features[key] = true;
        requiredFeatures.push(name);
      }
    }
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'llm' });
    } catch (cause) {
      throw new GpuUnavailableError(`WebGPU device request failed: ${String(cause)}`);
    }
    const info = adapter.info;
    const adapterName = adapterDisplayName(info);
    const cpu = /llvmpipe|lavapipe|swiftshader|software/i.test(
      [info.description, info.device, info.architecture, info.vendor].join(' '),
    );
    // subgroupMinSize/MaxSize are recent additions to GPUAdapterInfo; older implementations lack them.
    const sizes = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const subgroupSize =
      features.subgroups &&
      sizes.subgroupMinSize !== undefined &&
      sizes.subgroupMinSize === sizes.subgroupMaxSize
        ? sizes.subgroupMinSize
        : undefined;
    return new GpuContext(device, features, adapterName, cpu, subgroupSize, gpu);
  }

  /** A compute pipeline for `kernel`, created once per (code, constants) and cached. */
  pipeline(kernel: KernelSource, constants?: Record<string, number>): GPUComputePipeline {
    // By source object first (kernels reuse one object per variant, so this is the hot path),
    // then by code text.
    let byConstants = this.pipelinesBySource.get(kernel);
    if (!byConstants) {
      byConstants = this.pipelines.get(kernel.code);
      if (!byConstants) {
        byConstants = new Map();
        this.pipelines.set(kernel.code, byConstants);
      }
      this.pipelinesBySource.set(kernel, byConstants);
    }
    const constKey = constants ? JSON.stringify(constants) : '';
    let pipeline = byConstants.get(constKey);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code: kernel.code, label: kernel.name });
      const compute: GPUProgrammableStage = { module, entryPoint: 'main' };
      if (constants) compute.constants = constants;
      pipeline = this.device.createComputePipeline({ layout: 'auto', compute, label: kernel.name });
      this.pipelineIds.set(pipeline, this.nextId++);
      byConstants.set(constKey, pipeline);
    }
    return pipeline;
  }

  /**
   * Usage of buffers created without one: storage | copy_src | copy_dst, and on a CPU adapter
   * uniform as well, so that kernels can bind a small window of one (a token's activations) as a
   * uniform, which lavapipe loads with one gather for all lanes.
   */
  get defaultUsage(): number {
    return BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST | (this.isCpuAdapter ? BufferUsage.UNIFORM : 0);
  }

  /** A buffer of at least `byteLength` bytes (rounded up to 16), of `defaultUsage` unless given. */
  createBuffer(byteLength: number, label: string, usage: number = this.defaultUsage): GPUBuffer {
    return this.allocate({ size: roundUp(Math.max(byteLength, 16), 16), usage, label });
  }

  /** A new buffer holding `data`, of `defaultUsage` unless given. */
  upload(data: ArrayBufferView, label: string, usage?: number): GPUBuffer {
    const buffer = this.allocate({
      size: roundUp(Math.max(data.byteLength, 16), 16),
      usage: usage ?? this.defaultUsage,
      label,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    buffer.unmap();
    return buffer;
  }

  /**
   * Queues a write of `data` at `byteOffset`. Ordered with submits: work submitted before sees
   * the old contents, work submitted after sees the new.
   */
  write(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, bytes);
    } else {
      // writeBuffer needs a multiple of 4 bytes; the padding bytes are zero.
      const padded = new Uint8Array(roundUp(bytes.byteLength, 4));
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, byteOffset, padded);
    }
  }

  /** Copies a range of `buffer` back to the CPU after all submitted work. */
  async read(buffer: GPUBuffer, byteOffset = 0, byteLength?: number): Promise<ArrayBuffer> {
    const length = byteLength ?? buffer.size - byteOffset;
    const encoder = this.device.createCommandEncoder({ label: 'read' });
    const pending = this.encodeRead(encoder, buffer, byteOffset, length);
    this.device.queue.submit([encoder.finish()]);
    return pending();
  }

  /** Resolves when all submitted work has finished; throws if the device reported errors. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.throwPendingErrors();
  }

  /**
   * Buffers created through this context (createBuffer, upload, read staging, the uniform arena)
   * and not yet destroyed: what an owner that disposes its buffers should return to.
   */
  get liveBuffers(): LiveBufferStats {
    return { count: this.liveCount, bytes: this.liveBytes };
  }

  /** A recorder for one step: many dispatches, one command buffer, one submit. */
  recorder(label = 'step'): StepRecorder {
    return new StepRecorder(this, label);
  }

  /**
   * Starts timing every kernel dispatch: until {@link GpuContext.stopProfile}, each step puts each
   * dispatch in its own compute pass with timestamp writes and reads the timestamps back with the
   * step. Throws a GpuFeatureError (code `unsupported`) without the timestamp-query feature.
   */
  startProfile(): void {
    if (!this.features.timestampQuery) {
      throw new GpuFeatureError('timestamp-query', 'kernel profiling (GpuContext.startProfile)');
    }
    if (this.profiler) throw new LlmError('internal', 'a kernel profile is already running: stop it first');
    this.profiler = new KernelProfiler(this);
  }

  /** Whether a profile is running. */
  get profiling(): boolean {
    return this.profiler !== undefined;
  }

  /**
   * Ends the running profile: steps submitted after this call are not timed (so a new profile may
   * start at once). The promise resolves when the profiled steps' timestamps are read back, with
   * dispatches and GPU time per kernel kind.
   */
  async stopProfile(): Promise<KernelProfile> {
    const profiler = this.profiler;
    if (!profiler) throw new LlmError('internal', 'no kernel profile is running: call startProfile() first');
    this.profiler = undefined;
    return profiler.stop();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.profiler?.release();
    this.profiler = undefined;
    for (const b of this.stagingPool) b.destroy();
    this.stagingPool.length = 0;
    this.uniformArena?.destroy();
    for (const b of [...this.scratchBuffers.values(), ...this.retiredScratch]) b.destroy();
    this.scratchBuffers.clear();
    this.retiredScratch.length = 0;
    this.bindGroups.clear();
    this.pipelines.clear();
    this.pipelinesBySource = new WeakMap();
    this.device.destroy();
  }

  // ---- used by StepRecorder ------------------------------------------------------------------

  /** @internal */
  encodeRead(
    encoder: GPUCommandEncoder,
    buffer: GPUBuffer,
    byteOffset: number,
    byteLength: number,
  ): () => Promise<ArrayBuffer> {
    if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > buffer.size) {
      throw new RangeError(
        `read of ${byteLength} bytes at ${byteOffset} is outside buffer "${buffer.label}" (${buffer.size} bytes)`,
      );
    }
    // Copies need 4-byte aligned offsets and sizes: widen, then slice.
    const start = byteOffset - (byteOffset % 4);
    const end = Math.min(roundUp(byteOffset + byteLength, 4), buffer.size);
    const size = end - start;
    if (size === 0) return () => Promise.resolve(new ArrayBuffer(0));
    const staging = this.takeStaging(size);
    encoder.copyBufferToBuffer(buffer, start, staging, 0, size);
    return async () => {
      try {
        await staging.mapAsync(MAP_MODE_READ, 0, size);
      } catch (cause) {
        this.throwPendingErrors();
        throw new GpuDeviceError(`reading buffer "${buffer.label}" failed: ${String(cause)}`);
      }
      const bytes = staging
        .getMappedRange(0, size)
        .slice(byteOffset - start, byteOffset - start + byteLength);
      staging.unmap();
      this.stagingPool.push(staging);
      this.throwPendingErrors();
      return bytes;
    };
  }

  /** @internal */
  uniformArenaFor(byteLength: number): GPUBuffer {
    if (!this.uniformArena || this.uniformArena.size < byteLength) {
      // Earlier submits may still read the old arena; destroy() waits for them.
      this.uniformArena?.destroy();
      const size = Math.max(4096, 2 ** Math.ceil(Math.log2(byteLength)));
      this.uniformArena = this.allocate({
        size,
        usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST,
        label: 'uniform arena',
      });
    }
    return this.uniformArena;
  }

  /**
   * @internal A buffer (of defaultUsage) of at least `byteLength` bytes for a kernel's intermediate results
   * under `label` (one per label, reused by every later dispatch that asks, in submission order).
   * A larger request replaces it; the old one lives until destroy(), since work recorded but not
   * yet submitted may still bind it.
   */
  scratch(label: string, byteLength: number): GPUBuffer {
    const held = this.scratchBuffers.get(label);
    if (held && held.size >= byteLength) return held;
    if (held) this.retiredScratch.push(held);
    const size = Math.max(4096, 2 ** Math.ceil(Math.log2(byteLength)));
    const buffer = this.allocate({ size, usage: this.defaultUsage, label: `scratch: ${label}` });
    this.scratchBuffers.set(label, buffer);
    return buffer;
  }

  /** @internal Bind groups are cached by pipeline and exact resources, so a repeated step reuses them. */
  bindGroup(pipeline: GPUComputePipeline, entries: readonly GPUBufferBinding[]): GPUBindGroup {
    let key = `${this.pipelineIds.get(pipeline) ?? this.idOfPipeline(pipeline)}`;
    for (const e of entries) {
      key += `|${this.idOf(e.buffer)}:${e.offset ?? 0}:${e.size ?? -1}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      // Bound the cache: stale entries (destroyed buffers) are never hit again.
      if (this.bindGroups.size >= 16384) this.bindGroups.clear();
      group = this.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: entries.map((resource, binding) => ({ binding, resource })),
      });
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /** @internal */
  throwPendingErrors(): void {
    if (this.lost !== undefined) throw new GpuDeviceError(`WebGPU device lost (${this.lost})`, 'unavailable');
    if (this.pendingErrors.length > 0) {
      const messages = this.pendingErrors.splice(0);
      throw new GpuDeviceError(`WebGPU reported ${messages.length} error(s):\n${messages.join('\n')}`);
    }
  }

  /** Every buffer of this context is created here, so that liveBuffers counts it until destroy(). */
  private allocate(descriptor: GPUBufferDescriptor): GPUBuffer {
    const buffer = this.device.createBuffer(descriptor);
    const size = buffer.size;
    this.liveCount++;
    this.liveBytes += size;
    const destroy = buffer.destroy;
    let destroyed = false;
    // GPUBuffer.destroy() may be called more than once; only the first releases the memory.
    buffer.destroy = () => {
      if (!destroyed) {
        destroyed = true;
        this.liveCount--;
        this.liveBytes -= size;
      }
      destroy.call(buffer);
    };
    return buffer;
  }

  private takeStaging(size: number): GPUBuffer {
    let best = -1;
    for (let i = 0; i < this.stagingPool.length; i++) {
      const s = this.stagingPool[i]!.size;
      if (s >= size && (best < 0 || s < this.stagingPool[best]!.size)) best = i;
    }
    if (best >= 0) return this.stagingPool.splice(best, 1)[0]!;
    return this.allocate({
      size: Math.max(256, 2 ** Math.ceil(Math.log2(size))),
      usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
      label: 'read staging',
    });
  }

  private idOf(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  private idOfPipeline(pipeline: GPUComputePipeline): number {
    const id = this.nextId++;
    this.pipelineIds.set(pipeline, id);
    return id;
  }
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
