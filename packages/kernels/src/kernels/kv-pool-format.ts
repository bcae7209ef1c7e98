/**
 * Element type of the paged KV pool. f32 is exact; f16 halves the pool (what llama.cpp and vLLM
 * keep by default) at a relative rounding error of at most 2^-11 per element. Attention computes
 * in f32 either way.
 */
export type KvDtype = 'f32' | 'f16';

export const KV_DTYPES: readonly KvDtype[] = ['f32', 'f16'];

export function kvDtypeBytes(dtype: KvDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

/**
 * How a kernel reads an f16 pool: through `f16` storage types where the device has shader-f16,
 * else as packed u32 pairs through `unpack2x16float` (core WGSL, every adapter). Both see the same
 * bytes: element 2i in the low half of word i, as `pack2x16float` writes them.
 */
export interface KvPoolFormat {
  dtype: KvDtype;
  shaderF16: boolean;
}

/** A short tag naming a pool format in kernel and pipeline names. */
export function kvPoolTag(f: KvPoolFormat): string {
  return f.dtype === 'f32' ? 'kv32' : f.shaderF16 ? 'kv16h' : 'kv16u';
}

/** `enable f16;` when the format reads the pool through f16 types (must open the module). */
export function kvPoolEnable(f: KvPoolFormat): string {
  return f.dtype === 'f16' && f.shaderF16 ? 'enable f16;' : '';
}

/**
 * WGSL declaring a read-only pool binding `name` and its loader `${name}At(i) -> T` (T is
 * vec4<f32> for unit 'vec4', i counting vec4s; f32 for unit 'scalar', i counting elements).
 */
export function kvPoolReadWgsl(
  f: KvPoolFormat,
  binding: number,
  name: string,
  unit: 'vec4' | 'scalar',
): string {
  const decl = (type: string) => `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${type}>;`;
  const fn = (ret: string, body: string) => `fn ${name}At(i: u32) -> ${ret} {\n  ${body}\n}`;
  if (unit === 'vec4') {
    if (f.dtype === 'f32') return `${decl('vec4<f32>')}\n${fn('vec4<f32>', `return ${name}[i];`)}`;
    if (f.shaderF16) return `${decl('vec4<f16>')}\n${fn('vec4<f32>', `return vec4<f32>(${name}[i]);`)}`;
    return `${decl('vec2<u32>')}\n${fn(
      'vec4<f32>',
      `let w = ${name}[i];\n  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));`,
    )}`;
  }
  if (f.dtype === 'f32') return `${decl('f32')}\n${fn('f32', `return ${name}[i];`)}`;
  if (f.shaderF16) return `${decl('f16')}\n${fn('f32', `return f32(${name}[i]);`)}`;
  return `${decl('u32')}\n${fn('f32', `return unpack2x16float(${name}[i >> 1u])[i & 1u];`)}`;
}
