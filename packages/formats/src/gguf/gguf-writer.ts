import { GgufFormatError } from '../errors.js';
import type { ByteSink } from '../io/byte-sink.js';
import { byteLengthOf, findElementType, isOneOf, TENSOR_DTYPES, WEIGHT_DTYPES, type TensorDtype } from '@llm/quant';
import { ggufFixedSizes, ggufValueTypeIds, type GgufArray, type GgufValue } from './gguf-value.js';

/**
 * One piece of a tensor's data, in its dtype: Float32Array for f32, Uint16Array bits for f16/bf16,
 * Uint8Array of whole blocks for a block type (from @llm/quant's `quantize`).
 */
export type TensorChunk = Float32Array | Uint16Array | Uint8Array;

/**
 * A tensor's data: the whole array, or a function yielding it in row-major chunks so a multi-GB
 * file is written without holding it in memory.
 */
export type TensorData =
  Float32Array | Uint16Array | Uint8Array | (() => Iterable<TensorChunk> | AsyncIterable<TensorChunk>);

export interface GgufTensorToWrite {
  readonly name: string;
  readonly dtype: TensorDtype;
  /** Row-major, outermost first (written reversed, as GGUF's ne0-first dims). */
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export interface WriteGgufOptions {
  readonly metadata: ReadonlyMap<string, GgufValue> | Readonly<Record<string, GgufValue>>;
  readonly tensors: readonly GgufTensorToWrite[];
  /** Tensor data alignment; written as general.alignment when not the default 32. */
  readonly alignment?: number;
  readonly version?: 2 | 3;
  /** Called as data is written (throttle it yourself if it prints). */
  readonly onProgress?: (bytesWritten: number, totalBytes: number) => void;
}

const defaultAlignment = 32;
// GGML_MAX_NAME is 64 bytes including the terminating NUL.
const maxNameBytes = 63;
const maxDims = 4;
// Writes go out in blocks of this size; small chunks are gathered into one write.
const stagingBytes = 8 << 20;

const textEncoder = new TextEncoder();

/** A growable little-endian byte buffer for the header. */
class HeaderBytes {
  private bytes = new Uint8Array(1 << 16);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  /** Claims n bytes; call it before touching `view` or `bytes`, which it may replace. */
  private reserve(n: number): number {
    if (this.length + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
  }
  raw(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.bytes.set(b, at);
  }
  string(s: string): void {
    const b = textEncoder.encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  padTo(alignment: number): void {
    this.reserve((alignment - (this.length % alignment)) % alignment);
  }
  result(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

const integerRanges: Readonly<Record<string, readonly [number, number]>> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffff_ffff],
  i32: [-0x8000_0000, 0x7fff_ffff],
};

/**
 * Writes a GGUF (v3 unless asked otherwise) to `sink`, committed on success and aborted on any
 * error, so nothing half-written is left under the sink's name.
 */
export async function writeGgufTo(sink: ByteSink, options: WriteGgufOptions): Promise<{ bytes: number }> {
  try {
    const result = await writeGgufBody(sink, options);
    await sink.commit();
    return result;
  } catch (error) {
    await sink.abort();
    throw error;
  }
}

async function writeGgufBody(sink: ByteSink, options: WriteGgufOptions): Promise<{ bytes: number }> {
  const path = sink.name;
  const invalid = (problem: string): never => {
    throw new GgufFormatError(`cannot write: ${problem}`, path);
  };
  const metadata = new Map<string, GgufValue>(
    options.metadata instanceof Map ? options.metadata : Object.entries(options.metadata),
  );
  const given = metadata.get('general.alignment');
  if (given !== undefined && given.type !== 'u32') invalid('general.alignment must be a u32');
  const alignment = options.alignment ?? (given?.type === 'u32' ? given.value : defaultAlignment);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    invalid(`alignment ${alignment} is not a power of two`);
  }
  if (given?.type === 'u32' && given.value !== alignment) {
    invalid(`general.alignment ${given.value} contradicts the alignment option ${alignment}`);
  }
  if (alignment !== defaultAlignment) metadata.set('general.alignment', { type: 'u32', value: alignment });

  const header = new HeaderBytes();
  header.u32(0x46554747);
  header.u32(options.version ?? 3);
  header.u64(options.tensors.length);
  header.u64(metadata.size);
  for (const [key, value] of metadata) {
    header.string(key);
    header.u32(ggufValueTypeIds[value.type]);
    encodeValue(header, value, key, invalid);
  }

  const names = new Set<string>();
  const layout: { tensor: GgufTensorToWrite; byteLength: number; offset: number }[] = [];
  let dataBytes = 0;
  for (const tensor of options.tensors) {
    const { name, shape, dtype } = tensor;
    if (names.has(name)) invalid(`tensor ${name} appears twice`);
    names.add(name);
    if (textEncoder.encode(name).length > maxNameBytes)
      invalid(`tensor name ${name} is over ${maxNameBytes} bytes`);
    if (shape.length === 0 || shape.length > maxDims)
      invalid(`tensor ${name} has ${shape.length} dimensions; 1..4 allowed`);
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      invalid(`tensor ${name} has shape [${shape.join(', ')}]`);
    const type = findElementType(dtype);
    if (type?.ggmlId === undefined || !isOneOf(TENSOR_DTYPES, type.name)) return invalid(`dtype ${String(dtype)}`);
    if (type.blockSize > 1 && (shape[shape.length - 1] ?? 0) % type.blockSize !== 0) {
      invalid(
        `tensor ${name} has rows of ${shape[shape.length - 1]}, not whole ${type.ggmlName} blocks of ${type.blockSize}`,
      );
    }
    const byteLength = byteLengthOf(type, shape.reduce((a, b) => a * b, 1));
    const offset = Math.ceil(dataBytes / alignment) * alignment;
    layout.push({ tensor, byteLength, offset });
    dataBytes = offset + byteLength;
    header.string(name);
    header.u32(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) header.u64(shape[d] ?? 0);
    header.u32(type.ggmlId);
    header.u64(offset);
  }
  header.padTo(alignment);
  // gguf.cpp pads after every tensor, the last included; readers that load the data section
  // whole expect that padding to be there.
  const paddedDataBytes = Math.ceil(dataBytes / alignment) * alignment;
  const totalBytes = header.length + paddedDataBytes;

  const out = new StagedWriter(sink, totalBytes, options.onProgress);
  await out.write(header.result());
  const dataStart = header.length;
  for (const { tensor, byteLength, offset } of layout) {
    await out.zeros(dataStart + offset - out.position);
    const end = out.position + byteLength;
    for await (const chunk of chunksOf(tensor.data)) {
      const expected =
        tensor.dtype === 'f32'
          ? Float32Array
          : isOneOf(WEIGHT_DTYPES, tensor.dtype)
            ? Uint16Array
            : Uint8Array;
      if (!(chunk instanceof expected) && !(chunk instanceof Uint8Array)) {
        invalid(`tensor ${tensor.name} (${tensor.dtype}) got a ${chunk.constructor.name} chunk`);
      }
      if (out.position + chunk.byteLength > end)
        invalid(`tensor ${tensor.name} got more than ${byteLength} bytes`);
      await out.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    if (out.position !== end) {
      invalid(`tensor ${tensor.name} got ${byteLength - (end - out.position)} of its ${byteLength} bytes`);
    }
  }
  await out.zeros(totalBytes - out.position);
  await out.flush();
  return { bytes: totalBytes };
}

async function* chunksOf(data: TensorData): AsyncIterable<TensorChunk> {
  if (typeof data === 'function') yield* data();
  else yield data;
}

function encodeValue(out: HeaderBytes, value: GgufValue, key: string, invalid: (p: string) => never): void {
  switch (value.type) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32': {
      const [lo, hi] = integerRanges[value.type] ?? [0, 0];
      if (!Number.isInteger(value.value) || value.value < lo || value.value > hi) {
        invalid(`metadata ${key} = ${value.value} does not fit a ${value.type}`);
      }
      out[value.type](value.value);
      return;
    }
    case 'f32':
      out.f32(value.value);
      return;
    case 'f64':
      out.f64(value.value);
      return;
    case 'u64':
      if (value.value < 0n || value.value >= 1n << 64n)
        invalid(`metadata ${key} = ${value.value} does not fit a u64`);
      out.u64(value.value);
      return;
    case 'i64':
      if (value.value < -(1n << 63n) || value.value >= 1n << 63n)
        invalid(`metadata ${key} does not fit an i64`);
      out.i64(value.value);
      return;
    case 'bool':
      out.u8(value.value ? 1 : 0);
      return;
    case 'string':
      out.string(value.value);
      return;
    case 'array':
      encodeArray(out, value, key, invalid);
  }
}

function encodeArray(out: HeaderBytes, array: GgufArray, key: string, invalid: (p: string) => never): void {
  out.u32(ggufValueTypeIds[array.itemType]);
  out.u64(array.value.length);
  switch (array.itemType) {
    case 'string':
      for (const s of array.value) out.string(s);
      return;
    case 'bool':
      for (const b of array.value) out.u8(b ? 1 : 0);
      return;
    case 'array':
      // Nested items carry their own item type and count, without a repeated array tag.
      for (const nested of array.value) encodeArray(out, nested, key, invalid);
      return;
    default: {
      const size = ggufFixedSizes[array.itemType] ?? 0;
      const typed = array.value;
      if (typed.byteLength !== typed.length * size)
        invalid(`metadata ${key} has a malformed ${array.itemType} array`);
      out.raw(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
    }
  }
}

/** Sequential writes gathered into large blocks. */
class StagedWriter {
  position = 0;
  private readonly staging = new Uint8Array(stagingBytes);
  private staged = 0;
  private written = 0;

  constructor(
    private readonly sink: ByteSink,
    private readonly totalBytes: number,
    private readonly onProgress: ((bytesWritten: number, totalBytes: number) => void) | undefined,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    this.position += bytes.length;
    if (this.staged + bytes.length <= this.staging.length) {
      this.staging.set(bytes, this.staged);
      this.staged += bytes.length;
      if (this.staged === this.staging.length) await this.flush();
      return;
    }
    await this.flush();
    if (bytes.length >= this.staging.length) await this.writeOut(bytes);
    else {
      this.staging.set(bytes);
      this.staged = bytes.length;
    }
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n));
  }

  async flush(): Promise<void> {
    if (this.staged === 0) return;
    const bytes = this.staging.subarray(0, this.staged);
    this.staged = 0;
    await this.writeOut(bytes);
  }

  private async writeOut(bytes: Uint8Array): Promise<void> {
    await this.sink.write(bytes);
    this.written += bytes.length;
    this.onProgress?.(this.written, this.totalBytes);
  }
}
