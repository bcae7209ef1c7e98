import { bytesPerElement, elementType } from './element-types.js';

/**
 * The element types each part of the engine accepts, as subsets of the one registry, so that a
 * name means the same thing, with the same size, everywhere.
 */

/** Weights as read from a checkpoint, before upload: plain floats only (quantized formats come with their codecs). */
export const WEIGHT_DTYPES = ['f32', 'f16', 'bf16'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];

/** What the GPU kernels read in place: matrices and the KV pool are stored as one of these. */
export const GPU_DTYPES = ['f32', 'f16'] as const;
export type GpuDtype = (typeof GPU_DTYPES)[number];

/**
 * Element types a KV cache can be planned in. i8 and i4 carry per-group f16 scales besides, which
 * the KV memory planner adds; the GPU pool holds the GPU_DTYPES among them today.
 */
export const KV_DTYPES = ['f32', 'f16', 'bf16', 'i8', 'i4'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/** Bytes per element of a plain type (fractional for i4). */
export function dtypeBytes(name: WeightDtype | GpuDtype | KvDtype): number {
  return bytesPerElement(elementType(name));
}

/** Whether `value` names one of `set` (for narrowing strings read from files, flags or requests). */
export function isOneOf<const T extends string>(set: readonly T[], value: string): value is T {
  return (set as readonly string[]).includes(value);
}
