import { kvPoolReadWgsl, type KvPoolFormat } from '@llm/kernels';

/**
 * The bindings every attention kernel starts with, in the order attention.ts binds them: the
 * params struct (each kernel declares its own `Params`), the packed queries, the paged KV pool and
 * the batch's block tables, query starts and context lengths. The pool is read through
 * `kCacheAt(i)` and `vCacheAt(i)` (vec4<f32> i of the pool, whatever its element type); a module
 * reading an f16 pool through f16 types starts with `kvPoolEnable(pool)`.
 */
export function pagedInputBindings(pool: KvPoolFormat): string {
  return /* wgsl */ `@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
${kvPoolReadWgsl(pool, 2, 'kCache', 'vec4')}
${kvPoolReadWgsl(pool, 3, 'vCache', 'vec4')}
@group(0) @binding(4) var<storage, read> blockTables: array<u32>;
@group(0) @binding(5) var<storage, read> queryStarts: array<u32>;
@group(0) @binding(6) var<storage, read> contextLens: array<u32>;`;
}
