import { bytesPerElement, elementType } from './element-types.js';

/**
 * The element types each part of the engine accepts, as subsets of the one registry, so that a
 * name means the same thing, with the same size, everywhere.
 */

/** Weights as read from a checkpoint, before upload: plain floats only (quantized formats come with their codecs). */
export const WEIGHT_DTYPES = ['f32', 'f16', 'bf16'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];

/**
 * ggml block-quantized types a checkpoint may hold (those with a codec here): a tensor of one of
 * these is read as its raw block bytes and decoded (or read in place on the GPU) by whoever uses it.
 */
export const BLOCK_DTYPES = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'] as const;
export type BlockDtype = (typeof BLOCK_DTYPES)[number];

/**
 * Group-quantized integer weights (GPTQ, AWQ, EfficientQAT checkpoints): `w<bits>g<group>`,
 * value = (q - zero) * scale with one half scale and one integer zero per group of a row. Not
 * ggml types: GGUF files cannot hold them.
 */
export const GROUP_DTYPES = ['w2g32', 'w2g64', 'w2g128', 'w3g32', 'w3g64', 'w3g128', 'w4g32', 'w4g64', 'w4g128'] as const;
export type GroupDtype = (typeof GROUP_DTYPES)[number];

/** Every type a checkpoint tensor may have: plain floats, ggml blocks or group-quantized integers. */
export const TENSOR_DTYPES = [...WEIGHT_DTYPES, ...BLOCK_DTYPES, ...GROUP_DTYPES] as const;
export type TensorDtype = (typeof TENSOR_DTYPES)[number];

/** What the GPU kernels read in place: matrices and the KV pool are stored as one of these. */
export const GPU_DTYPES = ['f32', 'f16'] as const;
export type GpuDtype = (typeof GPU_DTYPES)[number];

/**
 * What a weight matrix may be stored as on the GPU and read in place by the matrix kernels and the
 * embedding lookup: the GPU_DTYPES, ggml's block formats and the group-quantized integers (both
 * repacked at upload, see @llm/kernels).
 */
export const MATRIX_DTYPES = ['f32', 'f16', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q4_k', 'q5_k', 'q6_k', ...GROUP_DTYPES] as const;
export type MatrixDtype = (typeof MATRIX_DTYPES)[number];

/**
 * Element types a KV cache can be planned in. i8 and i4 carry per-group f16 scales besides, which
 * the KV memory planner adds; the GPU pool holds the GPU_KV_DTYPES among them.
 */
export const KV_DTYPES = ['f32', 'f16', 'bf16', 'i8', 'i4'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/**
 * What a GPU KV pool may hold (the runners' `kvDtype`): plain floats, i8 with one f16 scale per
 * (token, KV head) row (see kv-i8.ts), or i4 with one f16 scale per group of at most 32 values of
 * a row (see kv-i4.ts). Apart from GPU_DTYPES, which the weight code uses.
 */
export const GPU_KV_DTYPES = ['f32', 'f16', 'i8', 'i4'] as const;
export type GpuKvDtype = (typeof GPU_KV_DTYPES)[number];

/** Bytes per element of a plain type (fractional for i4). */
export function dtypeBytes(name: WeightDtype | GpuDtype | KvDtype): number {
  return bytesPerElement(elementType(name));
}

/** Whether `value` names one of `set` (for narrowing strings read from files, flags or requests). */
export function isOneOf<const T extends string>(set: readonly T[], value: string): value is T {
  return (set as readonly string[]).includes(value);
}
