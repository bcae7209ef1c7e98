export { ERROR_CODES, errorCodeOf, LlmError, type ErrorCode } from './llm-error.js';
export {
  byteLengthOf,
  bytesPerElement,
  elementType,
  elementTypeByGgmlId,
  elementTypeByGgmlName,
  elementTypes,
  findElementType,
  type ElementKind,
  type ElementType,
  type ElementTypeName,
} from './element-types.js';
export {
  BLOCK_DTYPES,
  GROUP_DTYPES,
  type GroupDtype,
  dtypeBytes,
  GPU_DTYPES,
  GPU_KV_DTYPES,
  type GpuKvDtype,
  MATRIX_DTYPES,
  TENSOR_DTYPES,
  type BlockDtype,
  type MatrixDtype,
  type TensorDtype,
  isOneOf,
  KV_DTYPES,
  WEIGHT_DTYPES,
  type GpuDtype,
  type KvDtype,
  type WeightDtype,
} from './dtype-sets.js';
export {
  bf16ArrayToF32,
  bf16BitsToF32,
  f16ArrayToF32,
  f16BitsToF32,
  f32ArrayToF16,
  f32BitsToF16Bits,
  f32ToBf16Bits,
  f32ToF16Bits,
} from './half-float.js';
export {
  blockCodec,
  blockCodecTypes,
  dequantize,
  quantizableTypes,
  quantize,
  type BlockCodec,
} from './codecs/block-codecs.js';
export {
  findGroupDtype,
  groupBlockBytes,
  groupQuantParams,
  readGroupLevel,
  roundHalfEven,
  writeGroupLevel,
  type GroupQuantParams,
} from './codecs/group-quant.js';
export {
  QUANT_MIXES,
  quantMix,
  tensorQuantType,
  type QuantMix,
  type QuantMixModel,
  type QuantMixName,
  type QuantTypeOverrides,
  type TensorQuantChoice,
} from './quant-mix.js';
export { dequantizeKvI8Row, KV_I8_MAX, kvI8Scale, quantizeKvI8Row, roundTripKvI8 } from './kv-i8.js';
export { KV_I4_MAX, kvI4Groups, kvI4Scale, quantizeKvI4Row, roundTripKvI4 } from './kv-i4.js';
export { hadamardTransform } from './hadamard.js';
export {
  I8_GROUP,
  inverseFactors,
  quantizeGroupsI8,
  quantizeRowsI8,
  SMOOTHQUANT_DEFAULT_ALPHA,
  smoothQuantFactors,
  type I8Groups,
  type I8Rows,
} from './w8a8.js';
export {
  GPTQ_DEFAULT_BATCH_COLUMNS,
  GPTQ_DEFAULT_DAMPENING,
  gptqHessianFactor,
  gptqQuantize,
  type GptqHessianFactor,
  type GptqOptions,
} from './gptq/gptq.js';
export { GPTQ_TYPES, gptqGrid, type GptqGrid } from './gptq/gptq-grid.js';
export { GptqError } from './gptq/gptq-error.js';
export { HessianAccumulator } from './gptq/hessian.js';
