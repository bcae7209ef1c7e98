import type { ByteSink } from '../io/byte-sink.js';
import { dtypeBytes, type WeightDtype } from '@llm/quant';
import { safetensorsDtypeOf } from './safetensors-dtype.js';
import { SafetensorsFormatError } from './safetensors-format-error.js';

type TensorArray = Float32Array | Uint16Array | Int32Array;

export interface SafetensorsTensorSource {
  readonly name: string;
  /** A weight dtype, or i32 for the packed words of GPTQ and AWQ checkpoints. */
  readonly dtype: WeightDtype | 'i32';
  readonly shape: readonly number[];
  /** The tensor's elements (f32 as Float32Array, f16/bf16 bits as Uint16Array, i32 as Int32Array), or a function producing them when written. */
  readonly data: TensorArray | (() => Promise<TensorArray>);
}

// Padding the header to 8 bytes aligns every tensor's data as the reference writer does.
const DATA_ALIGNMENT = 8;

/**
 * Writes a safetensors file, one tensor at a time: lazy `data` functions are called in order, so
 * only one tensor is held in memory. The sink is committed once the file is complete.
 */
export async function writeSafetensorsTo(
  sink: ByteSink,
  tensors: readonly SafetensorsTensorSource[],
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  try {
    await writeBody(sink, tensors, metadata);
    await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
}

async function writeBody(
  sink: ByteSink,
  tensors: readonly SafetensorsTensorSource[],
  metadata: Readonly<Record<string, string>> | undefined,
): Promise<void> {
  const path = sink.name;
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header['__metadata__'] = metadata;
  const byteLengths: number[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    if (tensor.name === '__metadata__' || Object.hasOwn(header, tensor.name)) {
      throw new SafetensorsFormatError(
        path,
        'invalid-input',
        `tensor name "${tensor.name}" is reserved or used twice`,
      );
    }
    if (!tensor.shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
      throw new SafetensorsFormatError(
        path,
        'invalid-input',
        `tensor "${tensor.name}" has an invalid shape [${tensor.shape.join(', ')}]`,
      );
    }
    const byteLength = tensor.shape.reduce((n, dim) => n * dim, 1) * (tensor.dtype === 'i32' ? 4 : dtypeBytes(tensor.dtype));
    header[tensor.name] = {
      dtype: tensor.dtype === 'i32' ? 'I32' : safetensorsDtypeOf(tensor.dtype),
      shape: tensor.shape,
      data_offsets: [offset, offset + byteLength],
    };
    byteLengths.push(byteLength);
    offset += byteLength;
  }
  const json = JSON.stringify(header);
  const jsonBytes = new TextEncoder().encode(json);
  const paddedLength = Math.ceil((8 + jsonBytes.byteLength) / DATA_ALIGNMENT) * DATA_ALIGNMENT - 8;
  const prefix = new Uint8Array(8 + paddedLength).fill(0x20);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(paddedLength), true);
  prefix.set(jsonBytes, 8);

  await sink.write(prefix);
  for (const [i, tensor] of tensors.entries()) {
    const data = typeof tensor.data === 'function' ? await tensor.data() : tensor.data;
    const expectedType = tensor.dtype === 'f32' ? Float32Array : tensor.dtype === 'i32' ? Int32Array : Uint16Array;
    if (!(data instanceof expectedType) || data.byteLength !== byteLengths[i]) {
      throw new SafetensorsFormatError(
        path,
        'invalid-input',
        `tensor "${tensor.name}" data is a ${data.constructor.name} of ${data.byteLength} bytes; its dtype ${tensor.dtype} and shape [${tensor.shape.join(', ')}] need a ${expectedType.name} of ${byteLengths[i]} bytes`,
      );
    }
    await sink.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
}
