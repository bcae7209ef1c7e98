import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike } from '../runtime/step-recorder.js';

/** Bytes visible through a binding. */
export function bindingBytes(b: BufferBindingLike): number {
  if ('buffer' in b) return b.size ?? b.buffer.size - (b.offset ?? 0);
  return b.size;
}

/** Throws a KernelShapeError unless `b` holds at least `bytes` bytes. */
export function requireBytes(kernel: string, name: string, b: BufferBindingLike, bytes: number): void {
  const have = bindingBytes(b);
  if (have < bytes) {
    throw new KernelShapeError(kernel, `${name} holds ${have} bytes but the shape needs ${bytes}`);
  }
}

/**
 * Checks `tokens` rows of `len` f32 elements (`what` names them) that sit `stride` elements apart
 * from `offset` inside a binding (a slice of a wider row, such as K in a fused QKV output).
 */
export function requireRows(
  kernel: string,
  name: string,
  b: BufferBindingLike,
  rows: { tokens: number; len: number; what: string; stride: number; offset: number },
): void {
  requireInt(kernel, `${name}Offset`, rows.offset, 0);
  if (!Number.isInteger(rows.stride) || rows.offset + rows.len > rows.stride) {
    throw new KernelShapeError(
      kernel,
      `${name}Stride ${rows.stride} must hold ${name}Offset ${rows.offset} + ${rows.what} ${rows.len}`,
    );
  }
  requireBytes(kernel, name, b, ((rows.tokens - 1) * rows.stride + rows.offset + rows.len) * 4);
}

/** Throws a KernelShapeError unless `value` is an integer in [min, max]. */
export function requireInt(
  kernel: string,
  name: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new KernelShapeError(kernel, `${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export function bufferOf(b: BufferBindingLike): GPUBuffer {
  return 'buffer' in b ? b.buffer : b;
}

/** Where a binding starts in its buffer, in bytes. */
export function bindingOffset(b: BufferBindingLike): number {
  return 'buffer' in b ? (b.offset ?? 0) : 0;
}

/** Whether two bindings cover the same bytes of the same buffer. */
export function sameRange(a: BufferBindingLike, b: BufferBindingLike): boolean {
  return bufferOf(a) === bufferOf(b) && bindingOffset(a) === bindingOffset(b) && bindingBytes(a) === bindingBytes(b);
}

/** WebGPU forbids binding one buffer as both read-only and writable storage in a dispatch. */
export function requireDistinct(
  kernel: string,
  written: BufferBindingLike,
  read: Record<string, BufferBindingLike | undefined>,
): void {
  const target = bufferOf(written);
  for (const [name, b] of Object.entries(read)) {
    if (b && bufferOf(b) === target) {
      throw new KernelShapeError(
        kernel,
        `the output must not be the same buffer as ${name}; use a separate buffer`,
      );
    }
  }
}
