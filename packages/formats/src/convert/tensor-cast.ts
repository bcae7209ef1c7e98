import { dequantize, f16ArrayToF32, f32ArrayToF16, f32ToBf16Bits, isOneOf, WEIGHT_DTYPES } from '@llm/quant';
import type { TensorDtype, WeightDtype } from '@llm/quant';

export type TensorArray = Float32Array | Uint16Array;

/**
 * A tensor as a WeightSource reads it, in a float type: block-quantized blocks decoded to f32 with
 * @llm/quant's codecs, float types unchanged.
 */
export function floatTensor(
  data: TensorArray | Uint8Array,
  dtype: TensorDtype,
  elementCount: number,
): { data: TensorArray; dtype: WeightDtype } {
  if (isOneOf(WEIGHT_DTYPES, dtype)) {
    if (data instanceof Uint8Array) throw new TypeError(`${dtype} tensor data must not be raw bytes`);
    return { data, dtype };
  }
  if (!(data instanceof Uint8Array)) throw new TypeError(`${dtype} tensor data must be a Uint8Array of blocks`);
  return { data: dequantize(dtype, data, elementCount), dtype: 'f32' };
}

/**
 * Converts a tensor between f32, f16 and bf16 (f16/bf16 as Uint16Array bits), rounding to nearest,
 * ties to even. Every path widens to f32 first, which is exact for both 16-bit formats, so each
 * conversion rounds once.
 */
export function castTensor(data: TensorArray, from: WeightDtype, to: WeightDtype): TensorArray {
  if (from === to) return data;
  const wide = toF32(data, from);
  if (to === 'f32') return wide;
  if (to === 'f16') return f32ArrayToF16(wide);
  const out = new Uint16Array(wide.length);
  for (let i = 0; i < wide.length; i++) out[i] = f32ToBf16Bits(wide[i]!);
  return out;
}

function toF32(data: TensorArray, dtype: WeightDtype): Float32Array {
  if (dtype === 'f32') {
    if (!(data instanceof Float32Array)) throw new TypeError('f32 tensor data must be a Float32Array');
    return data;
  }
  if (!(data instanceof Uint16Array))
    throw new TypeError(`${dtype} tensor data must be a Uint16Array of bits`);
  if (dtype === 'f16') return f16ArrayToF32(data);
  // bf16 is the top half of an f32: shifting the bits is exact and keeps NaN payloads.
  const out = new Uint32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! << 16;
  return new Float32Array(out.buffer);
}
