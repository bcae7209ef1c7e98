import type { PagedAttentionBatch, StorageFormat } from '@llm/kernels';

/**
 * The bindings every attention kernel starts with (after its params): the packed queries, the
 * paged KV pool and the batch's block tables, query starts and context lengths. The pool is read
 * through `kCacheAt(i)` and `vCacheAt(i)` (vec4<f32> i of the pool, whatever its format).
 */
export function pagedInputBindings(pool: StorageFormat) {
  return {
    q: { access: 'read', type: 'vec4<f32>' },
    kCache: { access: 'read', format: pool, unit: 'vec4', load: 'kCacheAt' },
    vCache: { access: 'read', format: pool, unit: 'vec4', load: 'vCacheAt' },
    blockTables: { access: 'read', type: 'u32' },
    queryStarts: { access: 'read', type: 'u32' },
    contextLens: { access: 'read', type: 'u32' },
  } as const;
}

/** The batch's buffers for the bindings of `pagedInputBindings`, by the same names. */
export function pagedInputBuffers(b: PagedAttentionBatch) {
  return {
    q: b.q,
    kCache: b.kCache,
    vCache: b.vCache,
    blockTables: b.blockTables,
    queryStarts: b.queryStarts,
    contextLens: b.contextLens,
  };
}
