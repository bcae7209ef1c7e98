import type { ElementTypeName } from '../element-types.js';

/**
 * One ggml block layout, a block at a time. The registry (block-codecs.ts) loops over blocks,
 * checks lengths and inputs, and clears each output block before `encodeBlock` writes it, so a
 * format only ORs its bits in.
 */
export interface BlockFormat {
  readonly name: ElementTypeName;
  /** Writes the block's `blockSize` values at `out[outAt]`, as ggml's dequantize_row_* does. */
  decodeBlock(src: Uint8Array, at: number, out: Float32Array, outAt: number): void;
  /** Encodes `blockSize` finite values from `src[at]`, as ggml's quantize_row_*_ref does. */
  readonly encodeBlock?: (src: Float32Array, at: number, out: Uint8Array, outAt: number) => void;
}
