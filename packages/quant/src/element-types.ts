import { LlmError } from './llm-error.js';

/**
 * How a type stores numbers: plain IEEE floats, plain integers, or blocks of quantized values
 * sharing scales (ggml's Q/K/IQ formats), whose size is only defined per block.
 */
export type ElementKind = 'float' | 'integer' | 'quantized';

export interface ElementType {
  /** Lower-case name used across the packages: `f32`, `f16`, `q4_0`, `q6_k`, ... */
  readonly name: ElementTypeName;
  /** ggml's spelling (`F32`, `Q4_K`), as GGUF and llama.cpp print it. */
  readonly ggmlName: string;
  /** Id in ggml's enum ggml_type, as GGUF stores it; undefined for types ggml does not have. */
  readonly ggmlId: number | undefined;
  /** Elements per block: 1 for plain types, 32 / 64 / 128 / 256 for block-quantized ones. */
  readonly blockSize: number;
  readonly bytesPerBlock: number;
  readonly kind: ElementKind;
  /** Whether the GPU kernels read tensors of this type in place, without converting on upload. */
  readonly gpuReadable: boolean;
}

type Row = readonly [name: string, ggmlId: number | undefined, blockSize: number, bytesPerBlock: number];

// Block sizes and byte counts mirror ggml's type_traits table (ggml.c) and gguf-py's
// GGML_QUANT_SIZES; the K-quants and IQ types use 256-element super-blocks (QK_K). Ids 4, 5 and
// 31..38 belong to layouts ggml has withdrawn (Q4_2, Q4_3, the Q4_0/IQ4_NL repacks); files never
// hold them now, so they are absent and read as unknown.
const rows = [
  ['F32', 0, 1, 4],
  ['F16', 1, 1, 2],
  ['Q4_0', 2, 32, 18],
  ['Q4_1', 3, 32, 20],
  ['Q5_0', 6, 32, 22],
  ['Q5_1', 7, 32, 24],
  ['Q8_0', 8, 32, 34],
  ['Q8_1', 9, 32, 36],
  ['Q2_K', 10, 256, 84],
  ['Q3_K', 11, 256, 110],
  ['Q4_K', 12, 256, 144],
  ['Q5_K', 13, 256, 176],
  ['Q6_K', 14, 256, 210],
  ['Q8_K', 15, 256, 292],
  ['IQ2_XXS', 16, 256, 66],
  ['IQ2_XS', 17, 256, 74],
  ['IQ3_XXS', 18, 256, 98],
  ['IQ1_S', 19, 256, 50],
  ['IQ4_NL', 20, 32, 18],
  ['IQ3_S', 21, 256, 110],
  ['IQ2_S', 22, 256, 82],
  ['IQ4_XS', 23, 256, 136],
  ['I8', 24, 1, 1],
  ['I16', 25, 1, 2],
  ['I32', 26, 1, 4],
  ['I64', 27, 1, 8],
  ['F64', 28, 1, 8],
  ['IQ1_M', 29, 256, 56],
  ['BF16', 30, 1, 2],
  ['TQ1_0', 34, 256, 54],
  ['TQ2_0', 35, 256, 66],
  ['MXFP4', 39, 32, 17],
  ['NVFP4', 40, 64, 36],
  ['Q1_0', 41, 128, 18],
  // Not a ggml type: two signed 4-bit values per byte, the element of an int4-quantized KV cache
  // (its per-group scales are counted by the KV memory planner, not here).
  ['I4', undefined, 2, 1],
  // Not ggml types: the group-quantized integer weights of GPTQ, AWQ and EfficientQAT checkpoints
  // (W<bits>G<group size>), one block per group: a half scale, a 16-bit zero point, then the
  // group's levels as a little-endian bit string (see codecs/group-quant.ts). Per-channel
  // checkpoints read as the largest of these groups that divides a row.
  ['W2G32', undefined, 32, 12],
  ['W2G64', undefined, 64, 20],
  ['W2G128', undefined, 128, 36],
  ['W3G32', undefined, 32, 16],
  ['W3G64', undefined, 64, 28],
  ['W3G128', undefined, 128, 52],
  ['W4G32', undefined, 32, 20],
  ['W4G64', undefined, 64, 36],
  ['W4G128', undefined, 128, 68],
] as const satisfies readonly Row[];

export type ElementTypeName = Lowercase<(typeof rows)[number][0]>;

const floats: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);
const integers: ReadonlySet<string> = new Set(['I4', 'I8', 'I16', 'I32', 'I64']);
// What the WGSL kernels read in place: f32, f16 (through shader-f16 or unpacked u32 pairs), and
// the block formats @llm/kernels repacks at upload into 4-byte-aligned words without decoding.
const gpuReadable: ReadonlySet<string> = new Set([
  ...['F32', 'F16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'],
  ...['W2G32', 'W2G64', 'W2G128', 'W3G32', 'W3G64', 'W3G128', 'W4G32', 'W4G64', 'W4G128'],
]);

/** Every element type, in ggml id order (types ggml lacks last). */
export const elementTypes: readonly ElementType[] = rows.map(([ggmlName, ggmlId, blockSize, bytesPerBlock]) => ({
  name: ggmlName.toLowerCase() as ElementTypeName,
  ggmlName,
  ggmlId,
  blockSize,
  bytesPerBlock,
  kind: floats.has(ggmlName) ? 'float' : integers.has(ggmlName) ? 'integer' : 'quantized',
  gpuReadable: gpuReadable.has(ggmlName),
}));

const byName = new Map<string, ElementType>(elementTypes.map((t) => [t.name, t]));
const byGgmlName = new Map(elementTypes.map((t) => [t.ggmlName, t]));
const byGgmlId = new Map(elementTypes.flatMap((t) => (t.ggmlId === undefined ? [] : [[t.ggmlId, t] as const])));

/** The element type called `name` (`f16`, `q4_k`), or undefined. */
export function findElementType(name: string): ElementType | undefined {
  return byName.get(name);
}

/** The element type called `name`; an LlmError (`invalid_argument`) naming the known ones otherwise. */
export function elementType(name: ElementTypeName | (string & {})): ElementType {
  const found = byName.get(name);
  if (!found) {
    throw new LlmError(
      'invalid_argument',
      `unknown element type "${name}"; known: ${elementTypes.map((t) => t.name).join(', ')}`,
    );
  }
  return found;
}

/** The type with this ggml id as GGUF stores it, or undefined for ids ggml does not define (or withdrew). */
export function elementTypeByGgmlId(id: number): ElementType | undefined {
  return byGgmlId.get(id);
}

/** The type ggml calls `name` (`F32`, `Q4_K`), or undefined. */
export function elementTypeByGgmlName(name: string): ElementType | undefined {
  return byGgmlName.get(name);
}

/**
 * Bytes `elementCount` elements of `type` occupy; an LlmError (`invalid_argument`) when the
 * count is not a whole number of blocks, which no tensor of a block-quantized type can be.
 */
export function byteLengthOf(type: ElementType, elementCount: number): number {
  if (!Number.isSafeInteger(elementCount) || elementCount < 0 || elementCount % type.blockSize !== 0) {
    throw new LlmError(
      'invalid_argument',
      `${elementCount} elements of ${type.name} are not a whole number of ${type.blockSize}-element blocks`,
    );
  }
  return (elementCount / type.blockSize) * type.bytesPerBlock;
}

/** Bytes per element, fractional for sub-byte and block formats (0.5 for i4, 1.0625 for q8_0). */
export function bytesPerElement(type: ElementType): number {
  return type.bytesPerBlock / type.blockSize;
}
