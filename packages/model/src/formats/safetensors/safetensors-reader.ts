import { open, type FileHandle } from 'node:fs/promises';
import { UnsupportedModelError } from '../errors.js';
import { tensorDtypeOf } from './safetensors-dtype.js';
import { SafetensorsFormatError } from './safetensors-format-error.js';
import { parseHeader, parseHeaderLength, type SafetensorsTensor } from './safetensors-header.js';
import { readFully } from './positioned-io.js';

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
  close(): Promise<void>;
}

/** Opens a .safetensors file and validates its header; tensor data is read only on demand. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (cause) {
    throw new SafetensorsFormatError(path, 'open', `cannot open file (${(cause as Error).message})`, {
      cause,
    });
  }
  try {
    const fileSize = (await file.stat()).size;
    const prefix = new Uint8Array(8);
    if (fileSize >= 8) await readFully(file, prefix, 0);
    const headerBytes = parseHeaderLength(prefix, fileSize, path);
    const json = new Uint8Array(headerBytes);
    if (!(await readFully(file, json, 8))) {
      throw new SafetensorsFormatError(path, 'truncated', 'file ended inside the header');
    }
    const header = parseHeader(json, fileSize, path);
    return new OpenSafetensorsFile(
      path,
      file,
      header.metadata,
      new Map(header.tensors.map((t) => [t.name, t])),
    );
  } catch (error) {
    await file.close();
    throw error;
  }
}

class OpenSafetensorsFile implements SafetensorsFile {
  constructor(
    readonly path: string,
    private readonly file: FileHandle,
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
    // A fresh buffer per tensor keeps the typed-array view aligned; safetensors data is little-endian,
    // as are the hosts WebGPU runs on.
    const bytes = new Uint8Array(tensor.byteLength);
    if (!(await readFully(this.file, bytes, tensor.fileOffset))) {
      throw new SafetensorsFormatError(
        this.path,
        'truncated',
        `file ended inside tensor "${name}"; it changed after it was opened`,
      );
    }
    return dtype === 'f32'
      ? new Float32Array(bytes.buffer, 0, tensor.byteLength / 4)
      : new Uint16Array(bytes.buffer, 0, tensor.byteLength / 2);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
