import { BLOCK_DTYPES, elementTypeByGgmlId, isOneOf, WEIGHT_DTYPES, type ElementType } from '@llm/quant';

/** What a tensor's type must be for readTensor and the weight sources, as error messages say it. */
export const SUPPORTED_TYPES = `use a GGUF whose tensors are F32, F16, BF16 or one of ${BLOCK_DTYPES.map((t) => t.toUpperCase()).join(', ')}`;
import { GgufFormatError, UnsupportedModelError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { FileCursor, type FormatFailure } from './file-cursor.js';
import {
  ggufFixedSizes,
  ggufValueTypeById,
  type GgufArray,
  type GgufValue,
  type GgufValueType,
} from './gguf-value.js';

/** "GGUF" read as a little-endian u32. */
const ggufMagic = 0x46554747;
// general.alignment's default in ggml's gguf.cpp (GGUF_DEFAULT_ALIGNMENT).
const defaultAlignment = 32;
// GGML_MAX_DIMS: ggml tensors have at most four dimensions.
const maxDims = 4;
// Arrays of arrays are legal but nothing real nests deeper than two; the bound keeps a crafted
// file from recursing without end.
const maxArrayDepth = 8;
// Smallest possible encodings, used to bound counts against the bytes left in the file.
const minKeyValueBytes = 8 + 4 + 1; // key length, value type, one-byte value
const minTensorInfoBytes = 8 + 4 + 4 + 8; // name length, n_dims, type, offset

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml type name: `F32`, `F16`, `BF16`, `Q4_0`, `Q6_K`, ... */
  readonly ggmlType: string;
  readonly type: ElementType;
  /** Dimensions as GGUF stores them: innermost (ne0) first. */
  readonly dims: readonly number[];
  /** Row-major shape, outermost first (the reverse of `dims`). */
  readonly shape: readonly number[];
  readonly elementCount: number;
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

const textDecoder = new TextDecoder('utf-8');

/**
 * An open GGUF file (version 2 or 3, little-endian): its metadata and tensor directory, parsed and
 * checked when opened, and positioned reads of tensor data. Close it when done.
 */
export class GgufFile {
  readonly path: string;
  readonly version: number;
  readonly fileSize: number;
  /** `general.alignment`: tensor data offsets are multiples of it. */
  readonly alignment: number;
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensors in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  private readonly source: ByteSource;
  private readonly valueOffsets: ReadonlyMap<string, number>;
  private readonly byName: ReadonlyMap<string, GgufTensorInfo>;
  private closed = false;

  /** Use `openGguf`. */
  constructor(parts: {
    path: string;
    source: ByteSource;
    version: number;
    fileSize: number;
    alignment: number;
    dataOffset: number;
    metadata: Map<string, GgufValue>;
    valueOffsets: Map<string, number>;
    tensors: GgufTensorInfo[];
  }) {
    this.path = parts.path;
    this.source = parts.source;
    this.version = parts.version;
    this.fileSize = parts.fileSize;
    this.alignment = parts.alignment;
    this.dataOffset = parts.dataOffset;
    this.metadata = parts.metadata;
    this.valueOffsets = parts.valueOffsets;
    this.tensors = parts.tensors;
    this.byName = new Map(parts.tensors.map((t) => [t.name, t]));
  }

  tensor(name: string): GgufTensorInfo | undefined {
    return this.byName.get(name);
  }

  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  getString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'string') this.wrongType(key, v, 'a string');
    return v.value;
  }

  getBool(key: string): boolean | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'bool') this.wrongType(key, v, 'a bool');
    return v.value;
  }

  /** Any numeric scalar as a number; 64-bit integers must be exactly representable. */
  getNumber(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    switch (v.type) {
      case 'u64':
      case 'i64': {
        const n = Number(v.value);
        if (!Number.isSafeInteger(n)) this.wrongType(key, v, 'a number below 2^53');
        return n;
      }
      case 'bool':
      case 'string':
      case 'array':
        return this.wrongType(key, v, 'a number');
      default:
        return v.value;
    }
  }

  /** An integer of any width whose value fits in a u32 (converters differ on the width they write). */
  getU32(key: string): number | undefined {
    const v = this.metadata.get(key);
    const n = this.getNumber(key);
    if (n === undefined || v === undefined) return undefined;
    if (v.type === 'f32' || v.type === 'f64' || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
      this.wrongType(key, v, 'an unsigned 32-bit integer');
    }
    return n;
  }

  /** A float (or integer) scalar as a number. */
  getF32(key: string): number | undefined {
    return this.getNumber(key);
  }

  getArray(key: string): GgufArray | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'array') this.wrongType(key, v, 'an array');
    return v;
  }

  getStringArray(key: string): readonly string[] | undefined {
    const v = this.getArray(key);
    if (v === undefined) return undefined;
    if (v.itemType !== 'string') this.wrongType(key, v, 'an array of strings');
    return v.value;
  }

  /** A numeric array as Float32Array (f32 arrays are returned as stored, others converted). */
  getFloat32Array(key: string): Float32Array | undefined {
    const v = this.getArray(key);
    if (v === undefined) return undefined;
    if (v.itemType === 'f32') return v.value;
    if (v.itemType === 'bool' || v.itemType === 'string' || v.itemType === 'array') {
      this.wrongType(key, v, 'an array of numbers');
    }
    return Float32Array.from(v.value, Number);
  }

  /** An integer array whose values fit in i32, as Int32Array. */
  getInt32Array(key: string): Int32Array | undefined {
    const v = this.getArray(key);
    if (v === undefined) return undefined;
    if (v.itemType === 'i32') return v.value;
    if (
      v.itemType === 'bool' ||
      v.itemType === 'string' ||
      v.itemType === 'array' ||
      v.itemType === 'f32' ||
      v.itemType === 'f64'
    ) {
      this.wrongType(key, v, 'an array of integers');
    }
    const out = new Int32Array(v.value.length);
    for (let i = 0; i < out.length; i++) {
      const n = Number(v.value[i]);
      if (n < -0x8000_0000 || n > 0x7fff_ffff) this.wrongType(key, v, 'an array of 32-bit integers');
      out[i] = n;
    }
    return out;
  }

  private wrongType(key: string, v: GgufValue, expected: string): never {
    const actual = v.type === 'array' ? `an array of ${v.itemType}` : `a ${v.type}`;
    throw new GgufFormatError(
      `metadata ${key} is ${actual}, expected ${expected}`,
      this.path,
      this.valueOffsets.get(key) ?? 0,
    );
  }

  private requireTensor(name: string): GgufTensorInfo {
    if (this.closed) throw new GgufFormatError(`file is closed; cannot read tensor ${name}`, this.path, 0);
    const info = this.byName.get(name);
    if (info === undefined) {
      throw new GgufFormatError(`no tensor named ${name} in the file`, this.path, this.dataOffset);
    }
    return info;
  }

  /** The tensor's bytes as stored, whatever its type. */
  async readTensorBytes(name: string): Promise<Uint8Array> {
    const info = this.requireTensor(name);
    const out = await this.source.read(info.offset, info.byteLength);
    if (out.byteLength < info.byteLength) {
      throw new GgufFormatError(`file ends inside tensor ${name}`, this.path, info.offset + out.byteLength);
    }
    return out;
  }

  /**
   * An F32 tensor as Float32Array, an F16 or BF16 tensor as Uint16Array of its bits, a tensor of a
   * block type with a codec (Q4_0 ... Q8_0, Q2_K ... Q6_K) as Uint8Array of its blocks as stored.
   * Other types raise UnsupportedModelError.
   */
  async readTensor(name: string): Promise<Float32Array | Uint16Array | Uint8Array> {
    const info = this.requireTensor(name);
    if (isOneOf(BLOCK_DTYPES, info.type.name)) return this.readTensorBytes(name);
    if (!isOneOf(WEIGHT_DTYPES, info.type.name)) {
      throw new UnsupportedModelError(
        `tensor ${name} has type ${info.ggmlType}, which is not supported; ${SUPPORTED_TYPES}`,
        this.path,
      );
    }
    const read = await this.readTensorBytes(name);
    // A source may hand back a view at any offset; typed arrays need one aligned to their element.
    const bytes = read.byteOffset % 4 === 0 ? read : read.slice();
    return info.type.name === 'f32'
      ? new Float32Array(bytes.buffer, bytes.byteOffset, info.elementCount)
      : new Uint16Array(bytes.buffer, bytes.byteOffset, info.elementCount);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source.close();
  }
}

/**
 * Opens a GGUF from any ByteSource and checks its header, metadata and tensor directory; only the
 * header is read now, each tensor when asked for. The GgufFile closes the source.
 */
export async function openGgufSource(source: ByteSource): Promise<GgufFile> {
  try {
    return await parse(source);
  } catch (error) {
    await source.close();
    throw error;
  }
}

async function parse(source: ByteSource): Promise<GgufFile> {
  const path = source.name;
  const fileSize = source.size;
  const fail: FormatFailure = (problem, offset) => {
    throw new GgufFormatError(problem, path, offset);
  };
  const c = new FileCursor(source, fail);

  if (fileSize < 4) fail(`not a GGUF file: only ${fileSize} bytes`, 0);
  await c.need(4, 'the magic number');
  const magic = c.u32();
  if (magic !== ggufMagic) {
    fail(`not a GGUF file: magic is 0x${magic.toString(16).padStart(8, '0')}, expected "GGUF"`, 0);
  }
  await c.need(4, 'the version');
  const version = c.u32();
  if ((version & 0xffff) === 0 && version !== 0) {
    fail(
      `big-endian GGUF (version bytes ${version.toString(16)}) is not supported; use a little-endian file`,
      4,
    );
  }
  if (version === 1)
    fail('GGUF version 1 is not supported (it predates 64-bit counts); re-convert the model', 4);
  if (version !== 2 && version !== 3)
    fail(`GGUF version ${version} is not supported; versions 2 and 3 are`, 4);

  await c.need(16, 'the header counts');
  const tensorCount = c.u64Bounded(Math.floor((c.remaining - 8) / minTensorInfoBytes), 'tensor count');
  const kvCount = c.u64Bounded(Math.floor(c.remaining / minKeyValueBytes), 'metadata key/value count');

  const metadata = new Map<string, GgufValue>();
  const valueOffsets = new Map<string, number>();
  for (let i = 0; i < kvCount; i++) {
    const keyOffset = c.position;
    const key = await readString(c, 'a metadata key');
    if (metadata.has(key)) fail(`duplicate metadata key ${key}`, keyOffset);
    await c.need(4, `the value type of ${key}`);
    const typeOffset = c.position;
    const type = readValueType(c, fail, key);
    valueOffsets.set(key, typeOffset);
    metadata.set(key, await readValue(c, fail, type, key, 0));
  }

  let alignment = defaultAlignment;
  const alignmentValue = metadata.get('general.alignment');
  if (alignmentValue !== undefined) {
    const at = valueOffsets.get('general.alignment') ?? 0;
    if (alignmentValue.type !== 'u32')
      fail(`general.alignment must be a u32, found ${alignmentValue.type}`, at);
    const a = alignmentValue.value;
    if (a === 0 || (a & (a - 1)) !== 0) fail(`general.alignment must be a power of two, found ${a}`, at);
    alignment = a;
  }

  const tensors: GgufTensorInfo[] = [];
  const seen = new Set<string>();
  const relativeOffsets: number[] = [];
  const infoOffsets: number[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const infoOffset = c.position;
    const name = await readString(c, 'a tensor name');
    if (seen.has(name)) fail(`duplicate tensor name ${name}`, infoOffset);
    seen.add(name);
    await c.need(4, `the dimension count of tensor ${name}`);
    const numDims = c.u32();
    if (numDims > maxDims)
      fail(`tensor ${name} has ${numDims} dimensions; ggml allows at most ${maxDims}`, c.position - 4);
    await c.need(numDims * 8 + 4 + 8, `the shape, type and offset of tensor ${name}`);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < numDims; d++) {
      const dimOffset = c.position;
      const dim = c.u64();
      if (dim > BigInt(Number.MAX_SAFE_INTEGER))
        fail(`tensor ${name} dimension ${d} is ${dim}, too large`, dimOffset);
      dims.push(Number(dim));
      elements *= dim;
    }
    const typeOffset = c.position;
    const typeId = c.u32();
    const type = elementTypeByGgmlId(typeId);
    if (type === undefined) fail(`tensor ${name} has unknown ggml type id ${typeId}`, typeOffset);
    const ne0 = dims[0] ?? 1;
    if (ne0 % type.blockSize !== 0) {
      fail(
        `tensor ${name} has type ${type.ggmlName} (blocks of ${type.blockSize}) but its rows hold ${ne0} elements`,
        typeOffset,
      );
    }
    const byteLength = (elements / BigInt(type.blockSize)) * BigInt(type.bytesPerBlock);
    if (byteLength > BigInt(fileSize)) {
      fail(`tensor ${name} needs ${byteLength} bytes, more than the whole file (${fileSize})`, infoOffset);
    }
    const offsetAt = c.position;
    const relative = c.u64();
    if (relative > BigInt(fileSize))
      fail(`tensor ${name} data offset ${relative} lies past the end of the file`, offsetAt);
    if (Number(relative) % alignment !== 0) {
      fail(
        `tensor ${name} data offset ${relative} is not a multiple of the alignment ${alignment}`,
        offsetAt,
      );
    }
    relativeOffsets.push(Number(relative));
    infoOffsets.push(offsetAt);
    tensors.push({
      name,
      ggmlType: type.ggmlName,
      type,
      dims,
      shape: [...dims].reverse(),
      elementCount: Number(elements),
      offset: 0,
      byteLength: Number(byteLength),
    });
  }

  const dataOffset = Math.ceil(c.position / alignment) * alignment;
  const placed = tensors.map((t, i) => {
    const offset = dataOffset + (relativeOffsets[i] ?? 0);
    if (offset + t.byteLength > fileSize) {
      fail(
        `tensor ${t.name} data (${t.byteLength} bytes at ${offset}) runs past the end of the file (${fileSize} bytes)`,
        infoOffsets[i] ?? 0,
      );
    }
    return { ...t, offset };
  });
  const byOffset = placed.map((t, i) => ({ t, i })).sort((a, b) => a.t.offset - b.t.offset);
  for (let k = 1; k < byOffset.length; k++) {
    const prev = byOffset[k - 1];
    const cur = byOffset[k];
    if (prev && cur && prev.t.offset + prev.t.byteLength > cur.t.offset) {
      fail(`tensor ${cur.t.name} overlaps the data of tensor ${prev.t.name}`, infoOffsets[cur.i] ?? 0);
    }
  }

  return new GgufFile({
    path,
    source,
    version,
    fileSize,
    alignment,
    dataOffset,
    metadata,
    valueOffsets,
    tensors: placed,
  });
}

function readValueType(c: FileCursor, fail: FormatFailure, key: string): GgufValueType {
  const id = c.u32();
  const type = ggufValueTypeById(id);
  if (type === undefined) fail(`metadata ${key} has unknown value type ${id}`, c.position - 4);
  return type;
}

async function readString(c: FileCursor, what: string): Promise<string> {
  if (!c.has(8)) await c.need(8, `the length of ${what}`);
  const length = c.u64Bounded(c.remaining - 8, `the length of ${what}`);
  if (!c.has(length)) await c.need(length, what);
  return textDecoder.decode(c.bytes(length));
}

async function readValue(
  c: FileCursor,
  fail: FormatFailure,
  type: GgufValueType,
  key: string,
  depth: number,
): Promise<GgufValue> {
  const size = ggufFixedSizes[type];
  if (size !== undefined) await c.need(size, `the value of ${key}`);
  switch (type) {
    case 'u8':
      return { type, value: c.u8() };
    case 'i8':
      return { type, value: c.i8() };
    case 'u16':
      return { type, value: c.u16() };
    case 'i16':
      return { type, value: c.i16() };
    case 'u32':
      return { type, value: c.u32() };
    case 'i32':
      return { type, value: c.i32() };
    case 'f32':
      return { type, value: c.f32() };
    case 'f64':
      return { type, value: c.f64() };
    case 'u64':
      return { type, value: c.u64() };
    case 'i64':
      return { type, value: c.i64() };
    case 'bool':
      return { type, value: c.u8() !== 0 };
    case 'string':
      return { type, value: await readString(c, `the value of ${key}`) };
    case 'array':
      return readArray(c, fail, key, depth);
  }
}

async function readArray(c: FileCursor, fail: FormatFailure, key: string, depth: number): Promise<GgufArray> {
  if (depth >= maxArrayDepth) fail(`metadata ${key} nests arrays deeper than ${maxArrayDepth}`, c.position);
  await c.need(12, `the array header of ${key}`);
  const itemType = readValueType(c, fail, key);
  // Strings take at least their 8-byte length, nested arrays their 12-byte header.
  const minItemBytes = ggufFixedSizes[itemType] ?? (itemType === 'string' ? 8 : 12);
  const count = c.u64Bounded(Math.floor((c.remaining - 8) / minItemBytes), `the length of array ${key}`);
  const what = `the items of array ${key}`;
  const fixed = ggufFixedSizes[itemType];
  if (fixed !== undefined) {
    await c.need(count * fixed, what);
    // slice() copies into a fresh, aligned buffer the typed array can view.
    const buffer = c.bytes(count * fixed).slice().buffer;
    switch (itemType) {
      case 'u8':
        return { type: 'array', itemType, value: new Uint8Array(buffer) };
      case 'i8':
        return { type: 'array', itemType, value: new Int8Array(buffer) };
      case 'u16':
        return { type: 'array', itemType, value: new Uint16Array(buffer) };
      case 'i16':
        return { type: 'array', itemType, value: new Int16Array(buffer) };
      case 'u32':
        return { type: 'array', itemType, value: new Uint32Array(buffer) };
      case 'i32':
        return { type: 'array', itemType, value: new Int32Array(buffer) };
      case 'f32':
        return { type: 'array', itemType, value: new Float32Array(buffer) };
      case 'f64':
        return { type: 'array', itemType, value: new Float64Array(buffer) };
      case 'u64':
        return { type: 'array', itemType, value: new BigUint64Array(buffer) };
      case 'i64':
        return { type: 'array', itemType, value: new BigInt64Array(buffer) };
      case 'bool':
        return { type: 'array', itemType, value: Array.from(new Uint8Array(buffer), (b) => b !== 0) };
    }
  }
  if (itemType === 'string') {
    const strings: string[] = new Array<string>(count);
    for (let i = 0; i < count; i++) strings[i] = await readString(c, `item ${i} of array ${key}`);
    return { type: 'array', itemType, value: strings };
  }
  // A nested array item carries its own item type and count, but no repeated array tag.
  const arrays: GgufArray[] = [];
  for (let i = 0; i < count; i++) arrays.push(await readArray(c, fail, key, depth + 1));
  return { type: 'array', itemType: 'array', value: arrays };
}
