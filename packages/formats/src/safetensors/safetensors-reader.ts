import { UnsupportedModelError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { tensorDtypeOf } from './safetensors-dtype.js';
import { SafetensorsFormatError } from './safetensors-format-error.js';
import { parseHeader, parseHeaderLength, type SafetensorsTensor } from './safetensors-header.js';

export interface SafetensorsFile {
  readonly path: string;
  /** The header's `__metadata__` (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor in the file, in header order, whatever its dtype. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  /**
   * Reads one F32, F16 or BF16 tensor with a positioned read: F32 as Float32Array, F16 and BF16 as
   * Uint16Array of their bits. Other dtypes throw UnsupportedModelError.
   */
  read(name: string): Promise<Float32Array | Uint16Array>;
  /**
   * Reads any tensor's bytes as stored (little-endian), 4-byte aligned: for dtypes `read` does not
   * decode, such as the int32 words of GPTQ and AWQ packings.
   */
  readBytes(name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Opens a .safetensors file from any ByteSource and validates its header; tensor data is read
 * only on demand. The returned file closes the source.
 */
export async function openSafetensorsSource(source: ByteSource): Promise<SafetensorsFile> {
  const path = source.name;
  try {
    const fileSize = source.size;
    const prefix = new Uint8Array(8);
    if (fileSize >= 8) prefix.set(await source.read(0, 8));
    const headerBytes = parseHeaderLength(prefix, fileSize, path);
    const json = await source.read(8, headerBytes);
    if (json.byteLength < headerBytes) {
      throw new SafetensorsFormatError(path, 'truncated', 'file ended inside the header');
    }
    const header = parseHeader(json, fileSize, path);
    return new OpenSafetensorsFile(
      path,
      source,
      header.metadata,
      new Map(header.tensors.map((t) => [t.name, t])),
    );
  } catch (error) {
    await source.close();
    throw error;
  }
}

class OpenSafetensorsFile implements SafetensorsFile {
  constructor(
    readonly path: string,
    private readonly source: ByteSource,
    readonly metadata: Readonly<Record<string, string>>,
    readonly tensors: ReadonlyMap<string, SafetensorsTensor>,
  ) {}

  async read(name: string): Promise<Float32Array | Uint16Array> {
    const tensor = this.tensors.get(name);
    if (tensor === undefined) {
      throw new SafetensorsFormatError(this.path, 'unknown-tensor', `no tensor named "${name}"`);
    }
    const dtype = tensorDtypeOf(tensor.dtype);
    if (dtype === undefined) {
      throw new UnsupportedModelError(
        `tensor "${name}" has dtype ${tensor.dtype}; only F32, F16 and BF16 weights are supported (convert the checkpoint to one of them)`,
        this.path,
      );
    }
    // Safetensors data is little-endian,
    // as are the hosts WebGPU runs on.
    const bytes = await this.readBytes(name);
    return dtype === 'f32'
      ? new Float32Array(bytes.buffer, bytes.byteOffset, tensor.byteLength / 4)
      : new Uint16Array(bytes.buffer, bytes.byteOffset, tensor.byteLength / 2);
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const tensor = this.tensors.get(name);
    if (tensor === undefined) {
      throw new SafetensorsFormatError(this.path, 'unknown-tensor', `no tensor named "${name}"`);
    }
    const read = await this.source.read(tensor.fileOffset, tensor.byteLength);
    if (read.byteLength < tensor.byteLength) {
      throw new SafetensorsFormatError(
        this.path,
        'truncated',
        `file ended inside tensor "${name}"; it changed after it was opened`,
      );
    }
    return read.byteOffset % 4 === 0 ? read : read.slice();
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}
