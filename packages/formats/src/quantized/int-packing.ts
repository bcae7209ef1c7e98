import { elementType, findGroupDtype, writeGroupLevel, type GroupDtype } from '@llm/quant';

/**
 * One linear layer of a GPTQ / AWQ checkpoint, unpacked: PyTorch orientation (`rows` N output
 * features, `cols` K input features), every level, scale and zero point as the checkpoint holds
 * them. value(n, k) = (levels[n K + k] - zeros[g N + n]) * scales[g N + n] with g = floor(k / groupSize).
 */
export interface UnpackedLinear {
  readonly bits: 2 | 3 | 4;
  /** Input features per checkpoint group; a per-channel checkpoint (group_size -1) has K. */
  readonly groupSize: number;
  readonly rows: number;
  readonly cols: number;
  /** [N, K] levels in [0, 2^bits). */
  readonly levels: Uint8Array;
  /** [ceil(K / groupSize), N] zero points (v1's stored zero - 1 already corrected). */
  readonly zeros: Uint16Array;
  /** [ceil(K / groupSize), N] half bits. */
  readonly scales: Uint16Array;
  /** The group of each input when it is not k / groupSize (act-order); levels stay in input order. */
  readonly gIdx?: Int32Array;
}

/** Checkpoint groups of a row: ceil(K / groupSize), as GPTQ and AWQ size scales and qzeros. */
export function groupCount(l: Pick<UnpackedLinear, 'cols' | 'groupSize'>): number {
  return Math.ceil(l.cols / l.groupSize);
}

/**
 * Field p of a little-endian bit string of `bits`-bit fields held in 32-bit words, word i read by
 * `word(i)`: field p is bits [p bits, p bits + bits). GPTQ's 3-bit packing is this string (a field
 * may straddle two words); 2-, 4- and 8-bit fields never do.
 */
export function bitField(word: (i: number) => number, p: number, bits: number): number {
  const bit = p * bits;
  const w = bit >>> 5;
  const shift = bit & 31;
  let v = word(w) >>> shift;
  if (shift + bits > 32) v |= word(w + 1) << (32 - shift);
  return v & ((1 << bits) - 1);
}

/**
 * The largest group type (groups of 128, 64 or 32) whose groups each lie inside one checkpoint
 * group of a row of K: it divides K and the checkpoint's group size (K itself when per-channel or
 * larger than K). Undefined when 32 does not (K or the group size not a multiple of 32).
 */
export function groupDtypeFor(bits: number, cols: number, groupSize: number): GroupDtype | undefined {
  const span = Math.min(groupSize, cols);
  for (const g of [128, 64, 32]) {
    if (cols % g === 0 && span % g === 0) return findGroupDtype(bits, g);
  }
  return undefined;
}

/**
 * The layer as blocks of the group type `groupDtypeFor` picks, row by row: the engine's
 * representation (see @llm/quant's group-quant.ts), still `bits` bits per weight. A checkpoint
 * group wider than the type's (per-channel, or 256) repeats its scale and zero in each block.
 */
export function toGroupBlocks(l: UnpackedLinear, dtype: GroupDtype): Uint8Array {
  const { blockSize: g, bytesPerBlock } = elementType(dtype);
  const perRow = l.cols / g;
  const out = new Uint8Array(l.rows * perRow * bytesPerBlock);
  for (let n = 0; n < l.rows; n++) {
    for (let j = 0; j < perRow; j++) {
      const at = (n * perRow + j) * bytesPerBlock;
      const gi = Math.floor((j * g) / l.groupSize) * l.rows + n;
      const s = l.scales[gi]!;
      const z = l.zeros[gi]!;
      out[at] = s & 0xff;
      out[at + 1] = s >> 8;
      out[at + 2] = z & 0xff;
      out[at + 3] = z >> 8;
      const row = n * l.cols + j * g;
      for (let i = 0; i < g; i++) writeGroupLevel(out, at, l.bits, i, l.levels[row + i]!);
    }
  }
  return out;
}

/** A [rows, cols] matrix whose stored column i is input inputOrder[i], put back in input order. */
export function restoreInputOrder(values: Float32Array, rows: number, cols: number, inputOrder: Uint32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let n = 0; n < rows; n++) {
    for (let i = 0; i < cols; i++) out[n * cols + inputOrder[i]!] = values[n * cols + i]!;
  }
  return out;
}

/** The layer with its columns taken in `inputOrder` (stored column i = input inputOrder[i]). */
export function reorderInputs(l: UnpackedLinear, inputOrder: Uint32Array): UnpackedLinear {
  const levels = new Uint8Array(l.levels.length);
  for (let n = 0; n < l.rows; n++) {
    for (let i = 0; i < l.cols; i++) levels[n * l.cols + i] = l.levels[n * l.cols + inputOrder[i]!]!;
  }
  // Sorted by group, the groups are runs of groupSize again: no gIdx.
  return { bits: l.bits, groupSize: l.groupSize, rows: l.rows, cols: l.cols, levels, zeros: l.zeros, scales: l.scales };
}
