/**
 * GGUF metadata values. Numeric arrays are typed arrays (a 150k-entry score table stays one
 * allocation); 64-bit integers are bigints so no value is silently rounded.
 */
export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigIntType = 'u64' | 'i64';
export type GgufValueType = GgufNumberType | GgufBigIntType | 'bool' | 'string' | 'array';

export type GgufScalar =
  | { readonly type: GgufNumberType; readonly value: number }
  | { readonly type: GgufBigIntType; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string };

export type GgufArray =
  | { readonly type: 'array'; readonly itemType: 'u8'; readonly value: Uint8Array }
  | { readonly type: 'array'; readonly itemType: 'i8'; readonly value: Int8Array }
  | { readonly type: 'array'; readonly itemType: 'u16'; readonly value: Uint16Array }
  | { readonly type: 'array'; readonly itemType: 'i16'; readonly value: Int16Array }
  | { readonly type: 'array'; readonly itemType: 'u32'; readonly value: Uint32Array }
  | { readonly type: 'array'; readonly itemType: 'i32'; readonly value: Int32Array }
  | { readonly type: 'array'; readonly itemType: 'f32'; readonly value: Float32Array }
  | { readonly type: 'array'; readonly itemType: 'f64'; readonly value: Float64Array }
  | { readonly type: 'array'; readonly itemType: 'u64'; readonly value: BigUint64Array }
  | { readonly type: 'array'; readonly itemType: 'i64'; readonly value: BigInt64Array }
  | { readonly type: 'array'; readonly itemType: 'bool'; readonly value: readonly boolean[] }
  | { readonly type: 'array'; readonly itemType: 'string'; readonly value: readonly string[] }
  | { readonly type: 'array'; readonly itemType: 'array'; readonly value: readonly GgufArray[] };

export type GgufValue = GgufScalar | GgufArray;

/** On-disk ids of the value types (enum gguf_type). */
export const ggufValueTypeIds: Readonly<Record<GgufValueType, number>> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};

const typesById: readonly GgufValueType[] = [
  'u8',
  'i8',
  'u16',
  'i16',
  'u32',
  'i32',
  'f32',
  'bool',
  'string',
  'array',
  'u64',
  'i64',
  'f64',
];

export function ggufValueTypeById(id: number): GgufValueType | undefined {
  return typesById[id];
}

/** Bytes per element of the fixed-size types (strings and arrays have none). */
export const ggufFixedSizes: Readonly<Partial<Record<GgufValueType, number>>> = {
  u8: 1,
  i8: 1,
  bool: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** Constructors for metadata values to pass to `writeGguf`. */
export const ggufValue = {
  u8: (value: number): GgufValue => ({ type: 'u8', value }),
  i8: (value: number): GgufValue => ({ type: 'i8', value }),
  u16: (value: number): GgufValue => ({ type: 'u16', value }),
  i16: (value: number): GgufValue => ({ type: 'i16', value }),
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  f64: (value: number): GgufValue => ({ type: 'f64', value }),
  u64: (value: bigint): GgufValue => ({ type: 'u64', value }),
  i64: (value: bigint): GgufValue => ({ type: 'i64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  stringArray: (value: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', value }),
  f32Array: (value: ArrayLike<number>): GgufValue => ({
    type: 'array',
    itemType: 'f32',
    value: Float32Array.from(value),
  }),
  i32Array: (value: ArrayLike<number>): GgufValue => ({
    type: 'array',
    itemType: 'i32',
    value: Int32Array.from(value),
  }),
  u32Array: (value: ArrayLike<number>): GgufValue => ({
    type: 'array',
    itemType: 'u32',
    value: Uint32Array.from(value),
  }),
};
