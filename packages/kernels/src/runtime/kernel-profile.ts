import type { GpuContext } from './gpu-context.js';

/** GPU time and dispatch count of one kernel kind over a profile. */
export interface KernelKindProfile {
  /** The kernel kind, from its pipeline label (see {@link kernelKind}): `matvec`, `rms-norm`, ... */
  readonly kind: string;
  readonly dispatches: number;
  /** Sum of its dispatches' GPU times, from timestamp queries, in nanoseconds. */
  readonly gpuNs: number;
}

/** What {@link GpuContext.stopProfile} returns: the steps submitted while the profile ran. */
export interface KernelProfile {
  /** Step submits that dispatched at least one kernel. */
  readonly steps: number;
  readonly dispatches: number;
  /** Fewest and most dispatches in one step. */
  readonly stepDispatches: { readonly min: number; readonly max: number };
  /** Sum of every dispatch's GPU time, in nanoseconds. */
  readonly gpuNs: number;
  /** Host time from startProfile() to stopProfile(), in milliseconds. */
  readonly wallMs: number;
  /** One entry per kernel kind, the most GPU time first. */
  readonly kinds: readonly KernelKindProfile[];
}

/**
 * The kind of a kernel from its pipeline label: the label up to the first `/`, without the
 * trailing `-` parts from the first one holding a digit (a shape or format tag). So
 * `matvec/f16h/rows1/...` is `matvec`, `attention-decode-d64-h4-f32` is `attention-decode` and
 * `attention-decode-merge` stays as it is. An empty label is `(unlabeled)`.
 */
export function kernelKind(label: string): string {
  const name = label.split('/', 1)[0]!;
  const parts = name.split('-');
  const tagAt = parts.findIndex((p) => /\d/.test(p));
  const kind = (tagAt > 0 ? parts.slice(0, tagAt) : parts).join('-');
  return kind || '(unlabeled)';
}

// GPUBufferUsage.QUERY_RESOLVE, spelled out as gpu-context.ts does for the others.
const QUERY_RESOLVE = 0x0200;
const COPY_SRC = 0x0004;
/** WebGPU's largest query set (GPUQuerySetDescriptor.count ≤ 4096): 2048 dispatches. */
export const QUERIES_PER_SET = 4096;
const DISPATCHES_PER_SET = QUERIES_PER_SET / 2;
// resolveQuerySet's destination offset must be a multiple of 256; a full set is 32 KiB.
const SET_BYTES = QUERIES_PER_SET * 8;

/**
 * The timestamps of one step: each dispatch in its own compute pass writing a begin and an end
 * timestamp. @internal
 */
export interface StepTimestamps {
  /** The pass's timestampWrites for the next dispatch, labelled `label`. */
  next(label: string): GPUComputePassTimestampWrites;
  /** Encodes the resolve and read-back; returns what to call once the encoder was submitted. */
  finish(encoder: GPUCommandEncoder): () => void;
}

/**
 * Collects per-dispatch GPU times while a profile runs; owned by the context
 * ({@link GpuContext.startProfile}). Query sets and the resolve buffer are reused across steps
 * (the queue orders each step's resolve before the next step's writes) and destroyed at stop.
 * @internal
 */
export class KernelProfiler {
  private readonly started = performance.now();
  private readonly byKind = new Map<string, { dispatches: number; gpuNs: number }>();
  private readonly kindOfLabel = new Map<string, string>();
  private readonly querySets: GPUQuerySet[] = [];
  private resolveBuffer: GPUBuffer | undefined;
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown;
  private steps = 0;
  private dispatches = 0;
  private minStep = Infinity;
  private maxStep = 0;
  private gpuNs = 0;

  constructor(private readonly ctx: GpuContext) {}

  beginStep(): StepTimestamps {
    const kinds: string[] = [];
    return {
      next: (label) => {
        const i = kinds.length;
        kinds.push(this.kindOf(label));
        const q = (i % DISPATCHES_PER_SET) * 2;
        return {
          querySet: this.querySet(Math.floor(i / DISPATCHES_PER_SET)),
          beginningOfPassWriteIndex: q,
          endOfPassWriteIndex: q + 1,
        };
      },
      finish: (encoder) => this.finishStep(encoder, kinds),
    };
  }

  /** Waits for the read-backs still in flight, releases the query sets and returns the profile. */
  async stop(): Promise<KernelProfile> {
    const wallMs = performance.now() - this.started;
    while (this.pending.size > 0) await Promise.all(this.pending);
    this.release();
    if (this.failure !== undefined) throw this.failure;
    const kinds = [...this.byKind].map(([kind, k]) => ({ kind, dispatches: k.dispatches, gpuNs: k.gpuNs }));
    kinds.sort((a, b) => b.gpuNs - a.gpuNs || b.dispatches - a.dispatches || a.kind.localeCompare(b.kind));
    return {
      steps: this.steps,
      dispatches: this.dispatches,
      stepDispatches: { min: this.steps > 0 ? this.minStep : 0, max: this.maxStep },
      gpuNs: this.gpuNs,
      wallMs,
      kinds,
    };
  }

  release(): void {
    for (const set of this.querySets) set.destroy();
    this.querySets.length = 0;
    this.resolveBuffer?.destroy();
    this.resolveBuffer = undefined;
  }

  private finishStep(encoder: GPUCommandEncoder, kinds: readonly string[]): () => void {
    const n = kinds.length;
    if (n === 0) return () => {};
    this.steps++;
    this.dispatches += n;
    this.minStep = Math.min(this.minStep, n);
    this.maxStep = Math.max(this.maxStep, n);
    for (const kind of kinds) this.entry(kind).dispatches++;
    const sets = Math.ceil(n / DISPATCHES_PER_SET);
    const resolve = this.resolveBufferFor(sets * SET_BYTES);
    for (let s = 0; s < sets; s++) {
      const queries = Math.min(DISPATCHES_PER_SET, n - s * DISPATCHES_PER_SET) * 2;
      encoder.resolveQuerySet(this.querySets[s]!, 0, queries, resolve, s * SET_BYTES);
    }
    const bytes = (sets - 1) * SET_BYTES + (n - (sets - 1) * DISPATCHES_PER_SET) * 16;
    const read = this.ctx.encodeRead(encoder, resolve, 0, bytes);
    return () => {
      const done = read().then(
        (data) => this.add(new BigUint64Array(data), kinds),
        (error: unknown) => {
          this.failure ??= error;
        },
      );
      this.pending.add(done);
      void done.finally(() => this.pending.delete(done));
    };
  }

  private add(stamps: BigUint64Array, kinds: readonly string[]): void {
    for (let i = 0; i < kinds.length; i++) {
      const at = Math.floor(i / DISPATCHES_PER_SET) * QUERIES_PER_SET + (i % DISPATCHES_PER_SET) * 2;
      const begin = stamps[at]!;
      const end = stamps[at + 1]!;
      // Timestamps may be reset or reordered by the implementation: such a pass counts as 0.
      const ns = end > begin ? Number(end - begin) : 0;
      this.entry(kinds[i]!).gpuNs += ns;
      this.gpuNs += ns;
    }
  }

  private entry(kind: string): { dispatches: number; gpuNs: number } {
    let e = this.byKind.get(kind);
    if (!e) {
      e = { dispatches: 0, gpuNs: 0 };
      this.byKind.set(kind, e);
    }
    return e;
  }

  private kindOf(label: string): string {
    let kind = this.kindOfLabel.get(label);
    if (kind === undefined) {
      kind = kernelKind(label);
      this.kindOfLabel.set(label, kind);
    }
    return kind;
  }

  private querySet(index: number): GPUQuerySet {
    while (this.querySets.length <= index) {
      this.querySets.push(
        this.ctx.device.createQuerySet({
          type: 'timestamp',
          count: QUERIES_PER_SET,
          label: 'kernel profile',
        }),
      );
    }
    return this.querySets[index]!;
  }

  private resolveBufferFor(bytes: number): GPUBuffer {
    if (!this.resolveBuffer || this.resolveBuffer.size < bytes) {
      // Earlier submits may still resolve into the old buffer; destroy() waits for them.
      this.resolveBuffer?.destroy();
      this.resolveBuffer = this.ctx.createBuffer(
        bytes,
        'kernel profile timestamps',
        QUERY_RESOLVE | COPY_SRC,
      );
    }
    return this.resolveBuffer;
  }
}
