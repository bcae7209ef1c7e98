import { dtypeBytes, type ElementTypeName, type MatrixDtype } from '@llm/quant';
import type { GpuFeatureName } from '../runtime/gpu-context.js';
import { isLaneBlockDtype } from './block-repack.js';
import { laneIndex } from './lanes-layout.js';
import { BLOCK_STORAGE, laneBlockFormat } from './block-storage.js';

/** What a kernel reads from a storage format: vec4<f32> i (4 consecutive elements) or f32 i. */
export type ReadUnit = 'vec4' | 'scalar';

/**
 * Whole-group reads of a block-quantized format, for kernels that stream rows (the stream and
 * tile matvecs): a group is 32 consecutive elements of the tensor (element 32 g .. 32 g + 31),
 * read as 8 vec4<f32> units. The quants binding is declared `array<vec4<u32>>` and its scales
 * binding, named after it with `_scales`, `array<u32>`.
 */
export interface BlockReads {
  /** WGSL statements that load group `g` (a u32 expression) of binding `b` into `let`s named `p`... */
  group(b: string, g: string, p: string): string;
  /** WGSL vec4<f32> expression: elements 4j..4j+3 of the group loaded as `p` (j a u32 expression, 0-7). */
  unit(p: string, j: string): string;
  /**
   * Reads by super-block of 8 groups, for kernels that take a row's groups 8 at a time (rows of a
   * multiple of 256 elements): `load` loads the scales of super-block `sb` (a u32 expression) into
   * `let`s named with prefix `p`, once; `group` then loads group `g`, the `i`-th (0-7) of that
   * super-block, taking its scales from those `let`s, into the same `let`s `group` defines.
   * `vectorScales`: the scales binding is declared `array<vec4<u32>>` instead of `array<u32>`.
   */
  superBlock?: {
    readonly vectorScales: boolean;
    load(b: string, sb: string, p: string): string;
    group(b: string, g: string, p: string, i: string): string;
  };
}

/**
 * How a tensor of one element type sits in a storage buffer and how WGSL reads it as f32. The
 * matrix kernels and the KV pool reads take one of these, so a new (for instance block-quantized)
 * format is one more object, not an edit to every kernel.
 */
export interface StorageFormat {
  /** The element type it stores (a name in @llm/quant's registry). */
  readonly dtype: ElementTypeName;
  /** Short name for kernel variant keys and pipeline labels; unique among formats. */
  readonly tag: string;
  /** Elements per storage block and that block's bytes (a quantized block holds its scales too). */
  readonly blockElements: number;
  readonly blockBytes: number;
  /** Device features the reads need. */
  readonly features: readonly GpuFeatureName[];
  /** WGSL extensions the reads need (`enable f16;`). */
  readonly enable: readonly string[];
  /** WGSL element type of the `array<...>` bound for reads in `unit`s. */
  elementType(unit: ReadUnit): string;
  /**
   * WGSL body of `fn (i: u32) -> vec4<f32> | f32` reading unit i of the array `binding`. Block
   * formats also read the binding `<binding>_scales`, which the kernel declares.
   */
  load(unit: ReadUnit, binding: string): string;
  /** Present for block-quantized formats: whole-group reads (see BlockReads). */
  readonly blocks?: BlockReads;
  /** Present for matrices in the lanes layout (lanes-layout.ts): rows per interleaved block. */
  readonly lanes?: number;
}

export const F32_STORAGE: StorageFormat = {
  dtype: 'f32',
  tag: 'f32',
  blockElements: 1,
  blockBytes: dtypeBytes('f32'),
  features: [],
  enable: [],
  elementType: (unit) => (unit === 'vec4' ? 'vec4<f32>' : 'f32'),
  load: (_unit, b) => `return ${b}[i];`,
};

/**
 * f16 as u32 words of two halves read through `unpack2x16float` (core WGSL, every adapter):
 * element 2i in the low half of word i, as `pack2x16float` writes them.
 */
export const F16_PACKED_STORAGE: StorageFormat = {
  dtype: 'f16',
  tag: 'f16u',
  blockElements: 2,
  blockBytes: 2 * dtypeBytes('f16'),
  features: [],
  enable: [],
  elementType: (unit) => (unit === 'vec4' ? 'vec2<u32>' : 'u32'),
  load: (unit, b) =>
    unit === 'vec4'
      ? `let packed = ${b}[i];\n  return vec4<f32>(unpack2x16float(packed.x), unpack2x16float(packed.y));`
      : `return unpack2x16float(${b}[i >> 1u])[i & 1u];`,
};

/** f16 read through WGSL's f16 types (needs shader-f16); the same bytes as F16_PACKED_STORAGE. */
export const F16_NATIVE_STORAGE: StorageFormat = {
  dtype: 'f16',
  tag: 'f16h',
  blockElements: 1,
  blockBytes: dtypeBytes('f16'),
  features: ['shaderF16'],
  enable: ['f16'],
  elementType: (unit) => (unit === 'vec4' ? 'vec4<f16>' : 'f16'),
  load: (unit, b) => (unit === 'vec4' ? `return vec4<f32>(${b}[i]);` : `return f32(${b}[i]);`),
};

/** Bytes of the unit a matrix in the lanes layout interleaves: one 16-byte load. */
const LANE_UNIT_BYTES = 16;

/**
 * `format` (f32 or f16) over a matrix stored in the lanes layout (matrix.ts): rows in blocks of
 * `lanes`, each block's 16-byte units interleaved row by row. Its loaders take the row-major
 * index as before and find the element through `params.row_stride` (elements per row), which
 * every kernel reading a matrix declares.
 */
function lanesStorage(format: StorageFormat, lanes: number): StorageFormat {
  if (format.dtype !== 'f32' && format.dtype !== 'f16')
    throw new Error(`the lanes layout holds f32 or f16, not ${format.dtype}`);
  const per = LANE_UNIT_BYTES / dtypeBytes(format.dtype);
  // Element e of the row-major matrix, in the lanes layout: its 16-byte unit's place, then e's
  // place in the unit.
  const element = (e: string) => `(${laneIndex(`(${e}) / ${per}u`, `(params.row_stride / ${per}u)`, lanes)}) * ${per}u + (${e}) % ${per}u`;
  return {
    ...format,
    tag: `${format.tag}l${lanes}`,
    lanes,
    // A 'vec4' unit is 4 elements, never split between two 16-byte units; the base loader then
    // reads the unit at its place in the lanes layout (a nested `i` shadows the parameter).
    load: (unit, b) =>
      unit === 'vec4'
        ? `{
  let i = (${element('i * 4u')}) / 4u;
  ${format.load(unit, b)}
  }`
        : `{
  let i = ${element('i')};
  ${format.load(unit, b)}
  }`,
  };
}

/**
 * The format reading `dtype`: f16 through f16 types when `shaderF16`, else as packed u32 pairs;
 * block types in their repacked layout (block-repack.ts); in the lanes layout of `lanes` rows
 * when given (not 0): f32 and f16, and the block types of LANE_BLOCK_DTYPES.
 */
export function storageFormat(dtype: MatrixDtype, shaderF16: boolean, lanes = 0): StorageFormat {
  if (dtype !== 'f32' && dtype !== 'f16') {
    if (lanes === 0) return BLOCK_STORAGE[dtype];
    if (!isLaneBlockDtype(dtype)) throw new Error(`the lanes layout holds no ${dtype} blocks`);
    return laneBlockFormat(dtype, lanes);
  }
  const format = dtype === 'f32' ? F32_STORAGE : shaderF16 ? F16_NATIVE_STORAGE : F16_PACKED_STORAGE;
  return lanes > 0 ? lanesStorage(format, lanes) : format;
}

/** Bytes per element of `format` (fractional for formats whose blocks pack bits). */
export function storageElementBytes(format: StorageFormat): number {
  return format.blockBytes / format.blockElements;
}
