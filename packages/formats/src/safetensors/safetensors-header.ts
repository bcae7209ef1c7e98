import * as z from 'zod/mini';
import { englishMessages } from '../zod-messages.js';
import { isSafetensorsDtype, safetensorsDtypeBits, type SafetensorsDtype } from './safetensors-dtype.js';
import { SafetensorsFormatError } from './safetensors-format-error.js';

/** The reference implementation's limit; a larger header is a corrupt length, not a real model. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute position of the first byte in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  /** Bytes before the data section: the 8-byte length plus the JSON header. */
  readonly dataStart: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** In header order. */
  readonly tensors: readonly SafetensorsTensor[];
}

const tensorEntrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.int().check(z.nonnegative())),
  data_offsets: z.tuple([z.int().check(z.nonnegative()), z.int().check(z.nonnegative())]),
});

const metadataSchema = z.record(z.string(), z.string());

/** Reads the 8-byte little-endian header length and checks it against the file size. */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, path: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new SafetensorsFormatError(
      path,
      'header-length',
      `file is ${fileSize} bytes, shorter than the 8-byte header length`,
    );
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsFormatError(
      path,
      'header-length',
      `header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit; the file is corrupt or not safetensors`,
    );
  }
  const headerBytes = Number(length);
  if (8 + headerBytes > fileSize) {
    throw new SafetensorsFormatError(
      path,
      'header-length',
      `header length ${headerBytes} runs past the end of the ${fileSize}-byte file; the file is truncated or not safetensors`,
    );
  }
  if (headerBytes < 2) {
    throw new SafetensorsFormatError(
      path,
      'header-length',
      `header length ${headerBytes} is too short to hold a JSON object`,
    );
  }
  return headerBytes;
}

/**
 * Parses and validates the JSON header: every tensor's byte range must match its dtype and shape,
 * lie inside the data section and not overlap another tensor.
 */
export function parseHeader(json: Uint8Array, fileSize: number, path: string): SafetensorsHeader {
  const dataStart = 8 + json.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch (cause) {
    throw new SafetensorsFormatError(path, 'header-json', 'header is not valid UTF-8', { cause });
  }
  if (!text.startsWith('{')) {
    throw new SafetensorsFormatError(
      path,
      'header-json',
      'header does not start with "{"; the file is not safetensors',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new SafetensorsFormatError(
      path,
      'header-json',
      `header is not valid JSON (${(cause as Error).message})`,
      { cause },
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsFormatError(path, 'header-schema', 'header JSON is not an object');
  }

  let metadata: Record<string, string> = {};
  const tensors: SafetensorsTensor[] = [];
  const dataSize = fileSize - dataStart;
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      const parsed = metadataSchema.safeParse(value, { error: englishMessages });
      if (!parsed.success) {
        throw new SafetensorsFormatError(
          path,
          'header-schema',
          `__metadata__ must map strings to strings: ${z.prettifyError(parsed.error)}`,
        );
      }
      metadata = parsed.data;
      continue;
    }
    const parsed = tensorEntrySchema.safeParse(value, { error: englishMessages });
    if (!parsed.success) {
      throw new SafetensorsFormatError(
        path,
        'header-schema',
        `tensor "${name}": ${z.prettifyError(parsed.error)}`,
      );
    }
    const {
      dtype,
      shape,
      data_offsets: [begin, end],
    } = parsed.data;
    if (!isSafetensorsDtype(dtype)) {
      throw new SafetensorsFormatError(
        path,
        'header-schema',
        `tensor "${name}" has unknown dtype "${dtype}"`,
      );
    }
    if (end < begin) {
      throw new SafetensorsFormatError(
        path,
        'offsets-out-of-range',
        `tensor "${name}" ends (${end}) before it begins (${begin})`,
      );
    }
    if (end > dataSize) {
      throw new SafetensorsFormatError(
        path,
        'offsets-out-of-range',
        `tensor "${name}" data_offsets [${begin}, ${end}] run past the ${dataSize}-byte data section; the file is truncated or corrupt`,
      );
    }
    const expectedBytes = expectedByteLength(dtype, shape);
    if (expectedBytes !== end - begin) {
      throw new SafetensorsFormatError(
        path,
        'tensor-size',
        `tensor "${name}" (${dtype}, shape [${shape.join(', ')}]) ${expectedBytes === undefined ? 'has no whole, representable byte size' : `needs ${expectedBytes} bytes`} but data_offsets span ${end - begin}`,
      );
    }
    tensors.push({ name, dtype, shape, fileOffset: dataStart + begin, byteLength: end - begin });
  }

  const byStart = [...tensors].sort((a, b) => a.fileOffset - b.fileOffset || a.byteLength - b.byteLength);
  for (let i = 1; i < byStart.length; i++) {
    const previous = byStart[i - 1]!;
    const current = byStart[i]!;
    if (current.fileOffset < previous.fileOffset + previous.byteLength) {
      throw new SafetensorsFormatError(
        path,
        'overlapping-offsets',
        `tensors "${previous.name}" and "${current.name}" overlap in the data section`,
      );
    }
  }
  return { dataStart, metadata, tensors };
}

/** Bytes a tensor occupies, or undefined when its size is not a whole number of bytes or not a safe integer. */
function expectedByteLength(dtype: SafetensorsDtype, shape: readonly number[]): number | undefined {
  let elements = 1;
  for (const dim of shape) {
    elements *= dim;
    if (!Number.isSafeInteger(elements)) return undefined;
  }
  const bits = elements * safetensorsDtypeBits[dtype];
  if (!Number.isSafeInteger(bits) || bits % 8 !== 0) return undefined;
  return bits / 8;
}
