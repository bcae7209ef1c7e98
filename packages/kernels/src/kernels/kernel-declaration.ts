import { KernelShapeError } from '../runtime/errors.js';
import type { KernelSource } from '../runtime/gpu-context.js';
import type { BufferBindingLike } from '../runtime/step-recorder.js';
import type { ReadUnit, StorageFormat } from './storage-format.js';

/** Types a params field may have; vec3 is left out (its 12 bytes at 16-byte alignment invite mistakes). */
export type ParamType =
  'u32' | 'i32' | 'f32' | 'vec2<u32>' | 'vec2<i32>' | 'vec2<f32>' | 'vec4<u32>' | 'vec4<i32>' | 'vec4<f32>';

export type ParamValue<T extends ParamType> = T extends `vec${string}` ? readonly number[] : number;

interface BindingPresence {
  /** False leaves the binding out of this variant (the bindings after it move up one number). */
  present?: boolean;
}

/** A binding of `array<type>` in storage (read or read_write), or of `type` as a uniform. */
export interface TypedBinding extends BindingPresence {
  access: 'read' | 'read_write' | 'uniform';
  /** WGSL element type: `f32`, `vec4<f32>`, or a struct the kernel body declares. */
  type: string;
}

/** A read-only binding in a storage format, with a generated loader `fn load(i: u32) -> vec4<f32> | f32`. */
export interface FormatBinding extends BindingPresence {
  access: 'read';
  format: StorageFormat;
  unit: ReadUnit;
  /** Name of the loader function. */
  load: string;
}

export type BindingDecl = TypedBinding | FormatBinding;

export interface KernelSpec<
  P extends Record<string, ParamType> = Record<string, ParamType>,
  B extends Record<string, BindingDecl> = Record<string, BindingDecl>,
> {
  /** Kernel name for error messages. */
  name: string;
  /** Fields of the uniform `params` struct, in this order. */
  params?: P;
  /** Bindings of group 0 in this order, after `params`. */
  bindings: B;
  /** WGSL extensions the body needs besides those of the storage formats (e.g. `subgroups`). */
  enable?: readonly string[];
}

export type ParamValues<P extends Record<string, ParamType>> = {
  readonly [K in keyof P]: ParamValue<P[K]>;
};

/** Buffers by binding name; a binding declared with `present` may be left out (undefined). */
export type BindingValues<B extends Record<string, BindingDecl>> = {
  readonly [K in keyof B as B[K] extends { present: boolean } ? never : K]: BufferBindingLike;
} & {
  readonly [K in keyof B as B[K] extends { present: boolean } ? K : never]?: BufferBindingLike | undefined;
};

/** One params field's place in the uniform struct. */
export interface ParamField {
  name: string;
  type: ParamType;
  /** Byte offset in the struct, by WGSL's alignment rules. */
  offset: number;
}

/** One binding of the declaration with its number in group 0. */
export interface DeclaredBinding {
  name: string;
  binding: number;
}

const PARAM_LAYOUT: Record<ParamType, { scalar: 'u32' | 'i32' | 'f32'; count: number; align: number }> = {
  u32: { scalar: 'u32', count: 1, align: 4 },
  i32: { scalar: 'i32', count: 1, align: 4 },
  f32: { scalar: 'f32', count: 1, align: 4 },
  'vec2<u32>': { scalar: 'u32', count: 2, align: 8 },
  'vec2<i32>': { scalar: 'i32', count: 2, align: 8 },
  'vec2<f32>': { scalar: 'f32', count: 2, align: 8 },
  'vec4<u32>': { scalar: 'u32', count: 4, align: 16 },
  'vec4<i32>': { scalar: 'i32', count: 4, align: 16 },
  'vec4<f32>': { scalar: 'f32', count: 4, align: 16 },
};

const roundUp = (v: number, m: number): number => Math.ceil(v / m) * m;

/**
 * A kernel's interface declared once: from it come the WGSL header (enable directives, `struct
 * Params`, `var<uniform> params`, the numbered `@group(0) @binding(n)` lines and the storage
 * formats' loaders), the params packing from values by name, and the buffers in binding order
 * from buffers by name. Binding 0 is `params` when the kernel has params; the others follow in
 * declaration order, skipping those not present in this variant.
 */
export class KernelDeclaration<
  P extends Record<string, ParamType> = Record<string, ParamType>,
  B extends Record<string, BindingDecl> = Record<string, BindingDecl>,
> {
  readonly name: string;
  readonly params: readonly ParamField[];
  /** Bytes the params occupy in the uniform buffer: the struct size rounded up to 16, or 0. */
  readonly paramsBytes: number;
  readonly bindings: readonly DeclaredBinding[];
  /** Names of declared bindings absent from this variant. */
  private readonly absent: ReadonlySet<string>;
  readonly header: string;

  constructor(spec: KernelSpec<P, B>) {
    this.name = spec.name;
    const fields: ParamField[] = [];
    let end = 0;
    let align = 4;
    for (const [name, type] of Object.entries(spec.params ?? {})) {
      const layout = PARAM_LAYOUT[type];
      if (!layout)
        throw new KernelShapeError(spec.name, `param ${name} has unsupported type ${String(type)}`);
      const offset = roundUp(end, layout.align);
      fields.push({ name, type, offset });
      end = offset + 4 * layout.count;
      align = Math.max(align, layout.align);
    }
    this.params = fields;
    // A uniform struct's size is a multiple of its alignment; bindings are reserved in 16s.
    this.paramsBytes = fields.length === 0 ? 0 : roundUp(roundUp(end, align), 16);

    const bindings: DeclaredBinding[] = [];
    const absent = new Set<string>();
    const lines: string[] = [];
    const enable = new Set(spec.enable ?? []);
    let next = 0;
    if (fields.length > 0) {
      lines.push(`struct Params {\n${fields.map((f) => `  ${f.name}: ${f.type},`).join('\n')}\n}`);
      lines.push(`@group(0) @binding(${next++}) var<uniform> params: Params;`);
    }
    for (const [name, decl] of Object.entries(spec.bindings)) {
      if (name === 'params') {
        throw new KernelShapeError(
          spec.name,
          'a binding may not be named params (the uniform struct has that name)',
        );
      }
      if (decl.present === false) {
        absent.add(name);
        continue;
      }
      const binding = next++;
      bindings.push({ name, binding });
      const at = `@group(0) @binding(${binding})`;
      if ('format' in decl) {
        for (const e of decl.format.enable) enable.add(e);
        const ret = decl.unit === 'vec4' ? 'vec4<f32>' : 'f32';
        lines.push(`${at} var<storage, read> ${name}: array<${decl.format.elementType(decl.unit)}>;`);
        lines.push(`fn ${decl.load}(i: u32) -> ${ret} {\n  ${decl.format.load(decl.unit, name)}\n}`);
      } else if (decl.access === 'uniform') {
        lines.push(`${at} var<uniform> ${name}: ${decl.type};`);
      } else {
        lines.push(`${at} var<storage, ${decl.access}> ${name}: array<${decl.type}>;`);
      }
    }
    this.bindings = bindings;
    this.absent = absent;
    const directives = [...enable].map((e) => `enable ${e};\n`).join('');
    this.header = `${directives}${lines.join('\n')}\n`;
  }

  /**
   * Checks `values` against the params: every name present, no other name, integers in range
   * for u32 and i32, vectors of their length. Throws a KernelShapeError otherwise.
   */
  checkParams(values: ParamValues<P>): void {
    const v = values as Record<string, number | readonly number[] | undefined>;
    let count = 0;
    // for..in rather than Object.keys: this runs per dispatch and must not allocate.
    for (const key in v) {
      if (v[key] !== undefined) count++;
    }
    for (const f of this.params) {
      const value = v[f.name];
      if (value === undefined) throw new KernelShapeError(this.name, `param ${f.name} is missing`);
      const layout = PARAM_LAYOUT[f.type];
      if (typeof value === 'number' || layout.count === 1) {
        if (typeof value !== 'number' || layout.count !== 1) {
          throw new KernelShapeError(this.name, `param ${f.name} must be a ${f.type}`);
        }
        checkScalar(this.name, f.name, layout.scalar, value);
      } else {
        if (value.length !== layout.count) {
          throw new KernelShapeError(
            this.name,
            `param ${f.name} must be a ${f.type} of ${layout.count} numbers`,
          );
        }
        for (let i = 0; i < layout.count; i++) checkScalar(this.name, f.name, layout.scalar, value[i]!);
      }
    }
    if (count !== this.params.length) {
      const extra = Object.keys(v).filter(
        (k) => v[k] !== undefined && !this.params.some((f) => f.name === k),
      );
      throw new KernelShapeError(
        this.name,
        `unknown param ${extra.join(', ')}; it declares ${this.paramNames()}`,
      );
    }
  }

  /** Writes checked params little-endian at `offset` of `view` (paramsBytes of room). */
  writeParams(values: ParamValues<P>, view: DataView, offset: number): void {
    const v = values as Record<string, number | readonly number[]>;
    for (const f of this.params) {
      const value = v[f.name]!;
      const scalar = PARAM_LAYOUT[f.type].scalar;
      if (typeof value === 'number') {
        writeScalar(view, offset + f.offset, scalar, value);
      } else {
        for (let i = 0; i < value.length; i++)
          writeScalar(view, offset + f.offset + 4 * i, scalar, value[i]!);
      }
    }
  }

  /** The params as the bytes of the uniform struct (paramsBytes long). */
  packParams(values: ParamValues<P>): Uint8Array {
    this.checkParams(values);
    const bytes = new Uint8Array(this.paramsBytes);
    this.writeParams(values, new DataView(bytes.buffer), 0);
    return bytes;
  }

  /**
   * The buffers of `values` in binding order (binding 0 after params first), matched by name.
   * A missing buffer, a buffer for a binding this variant lacks, or an unknown name is a
   * KernelShapeError.
   */
  buffers(values: BindingValues<B>): BufferBindingLike[] {
    const v = values as Record<string, BufferBindingLike | undefined>;
    const out: BufferBindingLike[] = [];
    for (const b of this.bindings) {
      const buffer = v[b.name];
      if (buffer === undefined) throw new KernelShapeError(this.name, `binding ${b.name} is missing`);
      out.push(buffer);
    }
    let count = 0;
    for (const key in v) {
      if (v[key] !== undefined) count++;
    }
    if (count !== out.length) {
      for (const key in v) {
        if (v[key] === undefined || this.bindings.some((b) => b.name === key)) continue;
        throw new KernelShapeError(
          this.name,
          this.absent.has(key)
            ? `binding ${key} is not part of this variant; leave it out`
            : `unknown binding ${key}; it declares ${this.bindings.map((b) => b.name).join(', ')}`,
        );
      }
    }
    return out;
  }

  private paramNames(): string {
    return this.params.map((f) => f.name).join(', ');
  }
}

function checkScalar(kernel: string, name: string, scalar: 'u32' | 'i32' | 'f32', value: number): void {
  if (typeof value !== 'number') throw new KernelShapeError(kernel, `param ${name} must be a number`);
  if (scalar === 'f32') return;
  const [min, max] = scalar === 'u32' ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new KernelShapeError(
      kernel,
      `param ${name} must be a ${scalar} (an integer in [${min}, ${max}]), got ${value}`,
    );
  }
}

function writeScalar(view: DataView, at: number, scalar: 'u32' | 'i32' | 'f32', value: number): void {
  if (scalar === 'u32') view.setUint32(at, value, true);
  else if (scalar === 'i32') view.setInt32(at, value, true);
  else view.setFloat32(at, value, true);
}

/** Declares a kernel's params and bindings; see {@link KernelDeclaration}. */
export function declareKernel<P extends Record<string, ParamType>, B extends Record<string, BindingDecl>>(
  spec: KernelSpec<P, B>,
): KernelDeclaration<P, B> {
  return new KernelDeclaration(spec);
}

/** A kernel's WGSL module (generated header, then its body) with the declaration it was built from. */
export interface DeclaredKernel<
  P extends Record<string, ParamType> = Record<string, ParamType>,
  B extends Record<string, BindingDecl> = Record<string, BindingDecl>,
> extends KernelSource {
  readonly declaration: KernelDeclaration<P, B>;
}

/**
 * The module for `declaration` with `body`: the body is plain WGSL using `params`, the bindings
 * by name and the storage formats' loaders (module-scope WGSL declarations may come in any order).
 */
export function declaredKernel<P extends Record<string, ParamType>, B extends Record<string, BindingDecl>>(
  name: string,
  declaration: KernelDeclaration<P, B>,
  body: string,
): DeclaredKernel<P, B> {
  return { name, code: declaration.header + body, declaration };
}
