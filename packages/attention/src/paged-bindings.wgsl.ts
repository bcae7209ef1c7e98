/**
 * The bindings every attention kernel starts with, in the order attention.ts binds them: the
 * params struct (each kernel declares its own `Params`), the packed queries, the paged KV pool and
 * the batch's block tables, query starts and context lengths.
 */
export const PAGED_INPUT_BINDINGS = /* wgsl */ `@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> blockTables: array<u32>;
@group(0) @binding(5) var<storage, read> queryStarts: array<u32>;
@group(0) @binding(6) var<storage, read> contextLens: array<u32>;`;
