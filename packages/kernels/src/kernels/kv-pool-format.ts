import { storageElementBytes, storageFormat } from './storage-format.js';

/**
 * Element type of the paged KV pool. f32 is exact; f16 halves the pool (what llama.cpp and vLLM
 * keep by default) at a relative rounding error of at most 2^-11 per element. Attention computes
 * in f32 either way, reading the pool through `storageFormat(dtype, shaderF16)`.
 */
export type KvDtype = 'f32' | 'f16';

export const KV_DTYPES: readonly KvDtype[] = ['f32', 'f16'];

export function kvDtypeBytes(dtype: KvDtype): number {
  return storageElementBytes(storageFormat(dtype, false));
}
