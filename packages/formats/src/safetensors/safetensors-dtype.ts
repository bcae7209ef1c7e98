import type { WeightDtype } from '@llm/quant';

/**
 * Every dtype the safetensors format defines, with its width in bits. Only F32, F16 and BF16 can
 * be read as weights; the others are recognised so that the error names them precisely.
 */
export const safetensorsDtypeBits = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  C64: 64,
} as const;

export type SafetensorsDtype = keyof typeof safetensorsDtypeBits;

export function isSafetensorsDtype(value: string): value is SafetensorsDtype {
  return Object.hasOwn(safetensorsDtypeBits, value);
}

const toTensorDtype: Partial<Record<SafetensorsDtype, WeightDtype>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
};

/** The weight dtype a safetensors dtype maps to, or undefined when weights of that dtype are not supported. */
export function tensorDtypeOf(dtype: SafetensorsDtype): WeightDtype | undefined {
  return toTensorDtype[dtype];
}

export function safetensorsDtypeOf(dtype: WeightDtype): SafetensorsDtype {
  return dtype === 'f32' ? 'F32' : dtype === 'f16' ? 'F16' : 'BF16';
}
