import { byteLengthOf, elementType, type ElementType, type ElementTypeName } from '../element-types.js';
import { LlmError } from '../llm-error.js';
import type { BlockFormat } from './block-format.js';
import { groupFormats } from './group-quant.js';
import { q2_k } from './q2-k.js';
import { q3_k } from './q3-k.js';
import { q4_0 } from './q4-0.js';
import { q4_1 } from './q4-1.js';
import { q4_k } from './q4-k.js';
import { q5_0 } from './q5-0.js';
import { q5_1 } from './q5-1.js';
import { q5_k } from './q5-k.js';
import { q6_k } from './q6-k.js';
import { q8_0 } from './q8-0.js';

/**
 * Decoder and encoder of one ggml block format, bit for bit as ggml-quants.c's dequantize_row_*
 * and quantize_row_*_ref (x86-64, no FMA). Both take whole blocks.
 */
export interface BlockCodec {
  readonly type: ElementType;
  /** Decodes `src` (blocks x bytesPerBlock bytes) into `out` (blocks x blockSize values). */
  dequantize(src: Uint8Array, out: Float32Array): void;
  /**
   * Encodes `src` (blocks x blockSize finite values) into `out` (blocks x bytesPerBlock bytes),
   * overwriting it. Absent for formats that decode only. Throws `invalid_argument` for NaN or
   * infinite values and for blocks whose scale does not fit a half.
   */
  readonly quantize?: (src: Float32Array, out: Uint8Array) => void;
}

const formats: readonly BlockFormat[] = [q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, ...groupFormats];

const codecs = new Map<string, BlockCodec>(formats.map((format) => [format.name, codecOf(format)]));

/** The element types with a codec, in ggml id order. */
export const blockCodecTypes: readonly ElementTypeName[] = formats.map((format) => format.name);

/** The element types whose codec also quantizes. */
export const quantizableTypes: readonly ElementTypeName[] = formats.flatMap((format) =>
  format.encodeBlock ? [format.name] : [],
);

/**
 * The codec of `name`; `invalid_argument` for an unknown name, `unsupported` for a known type
 * without a codec (floats, integers, the IQ formats, ...).
 */
export function blockCodec(name: ElementTypeName | (string & {})): BlockCodec {
  const type = elementType(name);
  const codec = codecs.get(type.name);
  if (!codec) {
    throw new LlmError(
      'unsupported',
      `no block codec for ${type.name}; codecs exist for ${blockCodecTypes.join(', ')}`,
    );
  }
  return codec;
}

/** `elementCount` values decoded from `bytes`, which must hold exactly that many elements of `name`. */
export function dequantize(
  name: ElementTypeName | (string & {}),
  bytes: Uint8Array,
  elementCount: number,
): Float32Array {
  const codec = blockCodec(name);
  const byteLength = byteLengthOf(codec.type, elementCount);
  if (bytes.length !== byteLength) {
    throw new LlmError(
      'invalid_argument',
      `${elementCount} elements of ${codec.type.name} take ${byteLength} bytes, not ${bytes.length}`,
    );
  }
  const out = new Float32Array(elementCount);
  codec.dequantize(bytes, out);
  return out;
}

/** `values` encoded as `name` (a whole number of blocks); see BlockCodec.quantize. */
export function quantize(name: ElementTypeName | (string & {}), values: Float32Array): Uint8Array {
  const codec = blockCodec(name);
  if (!codec.quantize) {
    throw new LlmError(
      'unsupported',
      `${codec.type.name} decodes only; quantizers exist for ${quantizableTypes.join(', ')}`,
    );
  }
  const out = new Uint8Array(byteLengthOf(codec.type, values.length));
  codec.quantize(values, out);
  return out;
}

function codecOf(format: BlockFormat): BlockCodec {
  const type = elementType(format.name);
  const { blockSize, bytesPerBlock } = type;
  const blocksIn = (what: string, length: number, unit: number): number => {
    if (length % unit !== 0) {
      throw new LlmError(
        'invalid_argument',
        `${what} of ${length} is not a whole number of ${type.name} blocks (${unit} each)`,
      );
    }
    return length / unit;
  };
  const dequantizeBlocks = (src: Uint8Array, out: Float32Array): void => {
    const blocks = blocksIn('a source', src.length, bytesPerBlock);
    if (out.length !== blocks * blockSize) {
      throw new LlmError(
        'invalid_argument',
        `${blocks} ${type.name} blocks decode to ${blocks * blockSize} values; the output holds ${out.length}`,
      );
    }
    for (let b = 0; b < blocks; b++) format.decodeBlock(src, b * bytesPerBlock, out, b * blockSize);
  };
  const encodeBlock = format.encodeBlock;
  if (!encodeBlock) return { type, dequantize: dequantizeBlocks };
  const quantizeBlocks = (src: Float32Array, out: Uint8Array): void => {
    const blocks = blocksIn('an input', src.length, blockSize);
    if (out.length !== blocks * bytesPerBlock) {
      throw new LlmError(
        'invalid_argument',
        `${blocks} ${type.name} blocks take ${blocks * bytesPerBlock} bytes; the output holds ${out.length}`,
      );
    }
    for (let i = 0; i < src.length; i++) {
      if (!Number.isFinite(src[i]!)) {
        throw new LlmError(
          'invalid_argument',
          `value ${i} is ${src[i]}; only finite values can be quantized to ${type.name}`,
        );
      }
    }
    out.fill(0);
    for (let b = 0; b < blocks; b++) encodeBlock(src, b * blockSize, out, b * bytesPerBlock);
  };
  return { type, dequantize: dequantizeBlocks, quantize: quantizeBlocks };
}
