import type { KernelSource } from '../runtime/gpu-context.js';

const sources = new Map<string, KernelSource>();

/**
 * The generated source of a kernel variant, generated once per process: the context's pipeline
 * cache is keyed by the code string, and reusing the same string keeps that lookup cheap.
 */
export function kernelSource(name: string, variantKey: string, generate: () => string): KernelSource {
  const key = `${name}/${variantKey}`;
  let source = sources.get(key);
  if (!source) {
    source = { name: key, code: generate() };
    sources.set(key, source);
  }
  return source;
}
