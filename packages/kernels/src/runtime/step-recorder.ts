import type {
  BindingDecl,
  BindingValues,
  DeclaredKernel,
  ParamType,
  ParamValues,
} from '../kernels/kernel-declaration.js';
import { GpuDeviceError, KernelShapeError } from './errors.js';
import type { GpuContext } from './gpu-context.js';
import type { StepTimestamps } from './kernel-profile.js';

/** A whole buffer or a range of one, bound as a storage buffer. */
export type BufferBindingLike = GPUBuffer | GPUBufferBinding;

interface DispatchOp {
  kind: 'dispatch';
  pipeline: GPUComputePipeline;
  /** Byte offset of this dispatch's params in the uniform arena, or -1 without params. */
  paramsOffset: number;
  paramsSize: number;
  buffers: BufferBindingLike[];
  x: number;
  y: number;
  z: number;
}

interface CopyOp {
  kind: 'copy';
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  size: number;
}

interface ReadOp {
  kind: 'read';
  src: GPUBuffer;
  offset: number;
  size: number;
  resolve: (data: ArrayBuffer) => void;
  reject: (error: unknown) => void;
}

type Op = DispatchOp | CopyOp | ReadOp;

interface PendingRead {
  op: ReadOp;
  finish: () => Promise<ArrayBuffer>;
}

/**
 * Records the dispatches of one step. Each dispatch's small params struct goes into a shared
 * uniform arena (uploaded with one writeBuffer at submit); bind groups are created at submit and
 * cached by the context, so a step that repeats the previous one's bindings creates none.
 * Kernels are recorded by declaration ({@link StepRecorder.dispatchKernel}), hand-written
 * pipelines by position ({@link StepRecorder.dispatch}).
 */
export class StepRecorder {
  private readonly ops: Op[] = [];
  private arena = new Uint8Array(4096);
  private arenaView = new DataView(this.arena.buffer);
  private arenaUsed = 0;
  private submitted = false;

  constructor(
    readonly ctx: GpuContext,
    readonly label: string,
  ) {}

  /** Pipeline labels (`<kind>/<variant>`) of the dispatches recorded so far, in order. */
  get dispatchLabels(): string[] {
    return this.ops.flatMap((op) => (op.kind === 'dispatch' ? [op.pipeline.label] : []));
  }

  /**
   * Records a declared kernel: params and buffers by name, checked against its declaration (a
   * KernelShapeError names what is missing, extra or out of range). The params go straight into
   * the uniform arena.
   */
  dispatchKernel<P extends Record<string, ParamType>, B extends Record<string, BindingDecl>>(
    kernel: DeclaredKernel<P, B>,
    params: ParamValues<P>,
    buffers: BindingValues<B>,
    workgroups: readonly [number, number?, number?],
  ): void {
    this.assertOpen();
    const decl = kernel.declaration;
    decl.checkParams(params);
    const bound = decl.buffers(buffers);
    const pipeline = this.ctx.pipeline(kernel);
    const [x, y = 1, z = 1] = workgroups;
    if (!this.checkWorkgroups(pipeline, x, y, z)) return;
    let paramsOffset = -1;
    if (decl.paramsBytes > 0) {
      paramsOffset = this.reserve(decl.paramsBytes);
      decl.writeParams(params, this.arenaView, paramsOffset);
    }
    this.ops.push({
      kind: 'dispatch',
      pipeline,
      paramsOffset,
      paramsSize: decl.paramsBytes,
      buffers: bound,
      x,
      y,
      z,
    });
  }

  /**
   * Records a dispatch of a hand-written pipeline. Binding convention: group 0; with params,
   * binding 0 is the `var<uniform>` params struct and the storage buffers follow from binding 1
   * in the order given; without params the storage buffers start at binding 0.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    params: ArrayBufferView | null,
    buffers: BufferBindingLike[],
    workgroups: readonly [number, number?, number?],
  ): void {
    this.assertOpen();
    const [x, y = 1, z = 1] = workgroups;
    if (!this.checkWorkgroups(pipeline, x, y, z)) return;
    let paramsOffset = -1;
    let paramsSize = 0;
    if (params) {
      // Uniform structs are sized in multiples of 16 bytes; the tail stays zero.
      paramsSize = Math.max(16, Math.ceil(params.byteLength / 16) * 16);
      paramsOffset = this.reserve(paramsSize);
      this.arena.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength), paramsOffset);
    }
    this.ops.push({ kind: 'dispatch', pipeline, paramsOffset, paramsSize, buffers, x, y, z });
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.assertOpen();
    if (size === 0) return;
    this.ops.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
  }

  /**
   * Copies a range back to the CPU as part of this step; the promise resolves after submit()
   * once the GPU has finished. Several reads in one step share the one wait.
   */
  read(src: GPUBuffer, offset = 0, size = src.size - offset): Promise<ArrayBuffer> {
    this.assertOpen();
    return new Promise((resolve, reject) => {
      this.ops.push({ kind: 'read', src, offset, size, resolve, reject });
    });
  }

  submit(): void {
    this.assertOpen();
    this.submitted = true;
    const ctx = this.ctx;
    const device = ctx.device;
    let arenaBuffer: GPUBuffer | undefined;
    if (this.arenaUsed > 0) {
      arenaBuffer = ctx.uniformArenaFor(this.arenaUsed);
      device.queue.writeBuffer(arenaBuffer, 0, this.arena, 0, this.arenaUsed);
    }
    const encoder = device.createCommandEncoder({ label: this.label });
    const profiler = ctx.profiler;
    if (profiler) {
      this.submitProfiled(encoder, arenaBuffer, profiler.beginStep());
      return;
    }
    let pass: GPUComputePassEncoder | undefined;
    const reads: PendingRead[] = [];
    const entries: GPUBufferBinding[] = [];
    for (const op of this.ops) {
      if (op.kind === 'dispatch') {
        pass ??= encoder.beginComputePass({ label: this.label });
        this.encodeDispatch(pass, op, arenaBuffer, entries);
        continue;
      }
      if (pass) {
        pass.end();
        pass = undefined;
      }
      this.encodeTransfer(encoder, op, reads);
    }
    pass?.end();
    device.queue.submit([encoder.finish()]);
    for (const { op, finish } of reads) finish().then(op.resolve, op.reject);
  }

  /** Binds a dispatch's params and buffers (`entries` is scratch, reused across dispatches) and dispatches it. */
  private encodeDispatch(
    pass: GPUComputePassEncoder,
    op: DispatchOp,
    arenaBuffer: GPUBuffer | undefined,
    entries: GPUBufferBinding[],
  ): void {
    entries.length = 0;
    if (op.paramsOffset >= 0) {
      entries.push({ buffer: arenaBuffer!, offset: op.paramsOffset, size: op.paramsSize });
    }
    for (const b of op.buffers) entries.push('buffer' in b ? b : { buffer: b });
    pass.setPipeline(op.pipeline);
    pass.setBindGroup(0, this.ctx.bindGroup(op.pipeline, entries));
    pass.dispatchWorkgroups(op.x, op.y, op.z);
  }

  /**
   * submit() while the context profiles: each dispatch in its own compute pass with timestamp
   * writes, the timestamps resolved and read back in the same command buffer.
   */
  private submitProfiled(
    encoder: GPUCommandEncoder,
    arenaBuffer: GPUBuffer | undefined,
    timestamps: StepTimestamps,
  ): void {
    const ctx = this.ctx;
    const reads: PendingRead[] = [];
    const entries: GPUBufferBinding[] = [];
    for (const op of this.ops) {
      if (op.kind !== 'dispatch') {
        this.encodeTransfer(encoder, op, reads);
        continue;
      }
      const label = op.pipeline.label;
      const pass = encoder.beginComputePass({ label, timestampWrites: timestamps.next(label) });
      this.encodeDispatch(pass, op, arenaBuffer, entries);
      pass.end();
    }
    const readTimestamps = timestamps.finish(encoder);
    ctx.device.queue.submit([encoder.finish()]);
    for (const { op, finish } of reads) finish().then(op.resolve, op.reject);
    readTimestamps();
  }

  private encodeTransfer(encoder: GPUCommandEncoder, op: CopyOp | ReadOp, reads: PendingRead[]): void {
    if (op.kind === 'copy') {
      encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
      return;
    }
    try {
      reads.push({ op, finish: this.ctx.encodeRead(encoder, op.src, op.offset, op.size) });
    } catch (error) {
      op.reject(error);
    }
  }

  /** Throws when a count exceeds the device limit; false when the dispatch is empty. */
  private checkWorkgroups(pipeline: GPUComputePipeline, x: number, y: number, z: number): boolean {
    const max = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    if (!(x >= 0 && y >= 0 && z >= 0 && x <= max && y <= max && z <= max)) {
      throw new KernelShapeError(
        pipeline.label || 'dispatch',
        `workgroup count [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${max}`,
      );
    }
    return x !== 0 && y !== 0 && z !== 0;
  }

  private reserve(size: number): number {
    const align = this.ctx.uniformAlignment;
    const offset = Math.ceil(this.arenaUsed / align) * align;
    const end = offset + size;
    if (end > this.arena.byteLength) {
      const grown = new Uint8Array(Math.max(end, this.arena.byteLength * 2));
      grown.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = grown;
      this.arenaView = new DataView(grown.buffer);
    }
    this.arenaUsed = end;
    return offset;
  }

  private assertOpen(): void {
    if (this.submitted) {
      throw new GpuDeviceError(`step recorder "${this.label}" was already submitted; create a new one`);
    }
  }
}
