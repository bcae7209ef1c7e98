import type { RopeLayout } from '../weight-source.js';

// Uint8Array: rows of encoded blocks, each row a whole number of blocks.
type Rows = Float32Array | Uint16Array | Uint8Array;

/**
 * Reorders the rows of a Q or K projection [numHeads·headDim, dim] (or its bias [numHeads·headDim])
 * between RoPE layouts, head by head.
 *
 * Within one head, half-split row a·(headDim/2) + b (a ∈ {0,1}) is adjacent row 2b + a. This is
 * llama.cpp's convert_hf_to_gguf `permute` (reshape(n_head, 2, headDim/2, ...).swapaxes(1, 2)) and
 * its inverse: llama.cpp's `llama` architecture rotates adjacent pairs, Hugging Face checkpoints
 * hold the half-split layout.
 */
export function permuteRopeRows<T extends Rows>(
  data: T,
  shape: readonly number[],
  numHeads: number,
  from: RopeLayout,
  to: RopeLayout,
): T {
  if (from === to) return data;
  const rows = shape[0] ?? 0;
  const rowLength = shape.slice(1).reduce((a, b) => a * b, 1);
  const headDim = rows / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0 || rows * rowLength !== data.length) {
    throw new RangeError(
      `cannot permute [${shape.join(', ')}] (${data.length} elements) into ${numHeads} heads of an even dimension`,
    );
  }
  const half = headDim / 2;
  const out = new (data.constructor as new (length: number) => T)(data.length);
  for (let head = 0; head < numHeads; head++) {
    const base = head * headDim;
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < half; b++) {
        const halfSplitRow = base + a * half + b;
        const adjacentRow = base + 2 * b + a;
        const [src, dst] = from === 'halfSplit' ? [halfSplitRow, adjacentRow] : [adjacentRow, halfSplitRow];
        out.set(data.subarray(src * rowLength, (src + 1) * rowLength), dst * rowLength);
      }
    }
  }
  return out;
}
