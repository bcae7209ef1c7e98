import { BufferUsage, type GpuContext } from '../runtime/gpu-context.js';
import type { BufferBindingLike } from '../runtime/step-recorder.js';

/**
 * Windows of a storage binding that can also be bound as a uniform: given a byte offset into the
 * binding and a length, the uniform binding of those bytes, or undefined where the window is
 * larger than the device's uniform bindings, its offset is not aligned for one, or it runs past
 * the binding. Undefined itself for a buffer without UNIFORM usage.
 */
export function uniformWindow(
  ctx: Pick<GpuContext, 'device'>,
  binding: BufferBindingLike,
): ((offset: number, bytes: number) => GPUBufferBinding | undefined) | undefined {
  const buffer = 'buffer' in binding ? binding.buffer : binding;
  if ((buffer.usage & BufferUsage.UNIFORM) === 0) return undefined;
  const base = 'buffer' in binding ? (binding.offset ?? 0) : 0;
  const available = 'buffer' in binding && binding.size !== undefined ? binding.size : buffer.size - base;
  const { maxUniformBufferBindingSize, minUniformBufferOffsetAlignment } = ctx.device.limits;
  return (offset, bytes) =>
    bytes <= maxUniformBufferBindingSize &&
    (base + offset) % minUniformBufferOffsetAlignment === 0 &&
    offset + bytes <= available
      ? { buffer, offset: base + offset, size: bytes }
      : undefined;
}
