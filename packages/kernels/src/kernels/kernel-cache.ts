import { declaredKernel } from './kernel-declaration.js';
import type { BindingDecl, DeclaredKernel, KernelDeclaration, ParamType } from './kernel-declaration.js';

/** A kernel variant before assembly: its declaration and its WGSL body. */
export interface KernelParts<
  P extends Record<string, ParamType> = Record<string, ParamType>,
  B extends Record<string, BindingDecl> = Record<string, BindingDecl>,
> {
  declaration: KernelDeclaration<P, B>;
  body: string;
}

const sources = new Map<string, DeclaredKernel>();

/**
 * The module of a kernel variant, generated once per process: the context's pipeline cache is
 * keyed by the source object first and its code string second, and reusing the same object keeps
 * that lookup cheap.
 */
export function kernelSource<P extends Record<string, ParamType>, B extends Record<string, BindingDecl>>(
  name: string,
  variantKey: string,
  generate: () => KernelParts<P, B>,
): DeclaredKernel<P, B> {
  const key = `${name}/${variantKey}`;
  let source = sources.get(key) as DeclaredKernel<P, B> | undefined;
  if (!source) {
    const { declaration, body } = generate();
    source = declaredKernel(key, declaration, body);
    sources.set(key, source as unknown as DeclaredKernel);
  }
  return source;
}
