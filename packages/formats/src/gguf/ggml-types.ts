/**
 * ggml's tensor types as GGUF stores them (enum ggml_type in ggml.h). Ids 4, 5 and 31..38 belong to
 * layouts ggml has withdrawn (Q4_2, Q4_3, the Q4_0/IQ4_NL repacks); files never hold them now, so
 * they are absent here and read as unknown.
 */
export interface GgmlTypeInfo {
  readonly id: number;
  readonly name: string;
  /** Elements per block: 1 for plain types, 32 / 64 / 128 / 256 for block-quantized ones. */
  readonly blockSize: number;
  /** Bytes one block occupies on disk. */
  readonly bytesPerBlock: number;
  readonly quantized: boolean;
}

// Block sizes and byte counts mirror ggml's type_traits table (ggml.c) and gguf-py's
// GGML_QUANT_SIZES; the K-quants and IQ types use 256-element super-blocks (QK_K).
const table: readonly (readonly [id: number, name: string, blockSize: number, bytesPerBlock: number])[] = [
  [0, 'F32', 1, 4],
  [1, 'F16', 1, 2],
  [2, 'Q4_0', 32, 18],
  [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24],
  [8, 'Q8_0', 32, 34],
  [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84],
  [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144],
  [13, 'Q5_K', 256, 176],
  [14, 'Q6_K', 256, 210],
  [15, 'Q8_K', 256, 292],
  [16, 'IQ2_XXS', 256, 66],
  [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98],
  [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18],
  [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82],
  [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1],
  [25, 'I16', 1, 2],
  [26, 'I32', 1, 4],
  [27, 'I64', 1, 8],
  [28, 'F64', 1, 8],
  [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2],
  [34, 'TQ1_0', 256, 54],
  [35, 'TQ2_0', 256, 66],
  [39, 'MXFP4', 32, 17],
  [40, 'NVFP4', 64, 36],
  [41, 'Q1_0', 128, 18],
];

const plainTypes = new Set(['F32', 'F16', 'BF16', 'I8', 'I16', 'I32', 'I64', 'F64']);

const byId = new Map<number, GgmlTypeInfo>(
  table.map(([id, name, blockSize, bytesPerBlock]) => [
    id,
    { id, name, blockSize, bytesPerBlock, quantized: !plainTypes.has(name) },
  ]),
);

const byName = new Map<string, GgmlTypeInfo>([...byId.values()].map((info) => [info.name, info]));

/** The type with this on-disk id, or undefined for ids ggml does not define (or has withdrawn). */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return byId.get(id);
}

/** The type with this name (`F32`, `Q4_K`, ...), or undefined. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return byName.get(name);
}

/** Every type this table knows, in id order. */
export function ggmlTypes(): readonly GgmlTypeInfo[] {
  return [...byId.values()];
}
