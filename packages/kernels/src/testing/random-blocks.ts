import { elementType, f32ToF16Bits, GROUP_DTYPES, groupQuantParams, quantize, type GroupDtype } from '@llm/quant';
import { isGroupDtype, type BlockMatrixDtype } from '../kernels/block-repack.js';

/** The block types the kernels read in place, for tests that run each. */
export const BLOCK_DTYPES_READ: readonly BlockMatrixDtype[] = ['q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k'];

/** The group-quantized integer types (GPTQ, AWQ, EfficientQAT weights), all read in place. */
export const GROUP_DTYPES_READ: readonly GroupDtype[] = GROUP_DTYPES;

// Byte offsets of each block's half scales (d, and dmin or m where the type has one).
const HALF_SCALES: Readonly<Record<BlockMatrixDtype, readonly number[]>> = {
  ...(Object.fromEntries(GROUP_DTYPES.map((dtype): [GroupDtype, readonly number[]] => [dtype, [0]])) as Record<GroupDtype, readonly number[]>),
  q8_0: [0],
  q4_0: [0],
  q4_1: [0, 2],
  q5_0: [0],
  q5_1: [0, 2],
  q4_k: [0, 2],
  q5_k: [0, 2],
  q6_k: [208],
};

/**
 * `elements` values of `dtype` as blocks: either random floats quantized with @llm/quant's codec,
 * or random bytes (every level, 6-bit scale and high bit pattern) with finite half scales of
 * either sign, some of them subnormal; group types get zero points in [0, 2^bits], as
 * checkpoints hold them.
 */
export function randomBlocks(
  dtype: BlockMatrixDtype,
  elements: number,
  rand: () => number,
  how: 'quantized' | 'bytes',
): Uint8Array {
  if (how === 'quantized') {
    return quantize(dtype, Float32Array.from({ length: elements }, () => (rand() * 2 - 1) * (rand() < 0.1 ? 4 : 1)));
  }
  const type = elementType(dtype);
  const blocks = elements / type.blockSize;
  const bytes = Uint8Array.from({ length: blocks * type.bytesPerBlock }, () => Math.floor(rand() * 256));
  for (let b = 0; b < blocks; b++) {
    for (const at of HALF_SCALES[dtype]) {
      const magnitude = rand() < 0.05 ? 2 ** -20 : 0.05;
      const bits = f32ToF16Bits((rand() * 2 - 1) * magnitude);
      bytes[b * type.bytesPerBlock + at] = bits & 0xff;
      bytes[b * type.bytesPerBlock + at + 1] = bits >> 8;
    }
    if (isGroupDtype(dtype)) {
      bytes[b * type.bytesPerBlock + 2] = Math.floor(rand() * ((1 << groupQuantParams(dtype).bits) + 1));
      bytes[b * type.bytesPerBlock + 3] = 0;
    }
  }
  return bytes;
}
