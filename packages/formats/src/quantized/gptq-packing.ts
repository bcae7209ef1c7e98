import { bitField, groupCount, type UnpackedLinear } from './int-packing.js';

/**
 * GPTQ's packing (AutoGPTQ, GPTQModel, transformers' GPTQ integration, and EfficientQAT's GPTQ
 * exports), for a linear layer of N outputs and K inputs at `bits` bits:
 *
 * - `qweight` int32 [K bits / 32, N]: column n holds the levels of output n along K as one
 *   little-endian bit string, level k at bits [k bits, k bits + bits) of the column's words
 *   (word r of column n is qweight[r, n]); at 3 bits every 32 levels fill 3 words and levels 10
 *   and 21 straddle two.
 * - `qzeros` int32 [ceil(K / g), N bits / 32]: row j holds the zero points of group j along N,
 *   the same bit string along the row. Checkpoint format v1 (`checkpoint_format` "gptq", the
 *   default) stores zero - 1 (AutoGPTQ's pack subtracts 1; its kernels add it back); v2
 *   ("gptq_v2", GPTQModel) stores the zero itself.
 * - `scales` f16 [ceil(K / g), N].
 * - `g_idx` int32 [K]: the group of each input feature, k / g without act-order (`desc_act`);
 *   with act-order, groups follow the order of the Hessian's diagonal and g_idx is a permutation
 *   of them.
 *
 * value(n, k) = scales[g_idx[k], n] * (level(n, k) - zero(g_idx[k], n)).
 */
export interface GptqTensors {
  /** [K bits / 32, N] */
  readonly qweight: Int32Array;
  /** [ceil(K / g), N bits / 32] */
  readonly qzeros: Int32Array;
  /** [ceil(K / g), N] half bits */
  readonly scales: Uint16Array;
  /** [K] */
  readonly gIdx: Int32Array;
}

export type GptqCheckpointFormat = 'gptq' | 'gptq_v2';

/** Shapes of a layer's GPTQ tensors ([rows, cols] each, g_idx 1-D). */
export function gptqShapes(bits: number, rows: number, cols: number, groupSize: number) {
  const groups = Math.ceil(cols / groupSize);
  return {
    qweight: [(cols * bits) / 32, rows],
    qzeros: [groups, (rows * bits) / 32],
    scales: [groups, rows],
    gIdx: [cols],
  } as const;
}

/**
 * Packs a layer as AutoGPTQ's QuantLinear.pack writes it, loop for loop: at 2, 4 and 8 bits
 * 32 / bits levels per word; at 3 bits 10 levels, then one split across two words, 10, one split,
 * 10 (3 words per 32 levels). Zeros the same way along N, less 1 in format v1 (as uint32, so a
 * zero of 0 would wrap, as it does there: v1 cannot hold it).
 */
export function packGptq(l: UnpackedLinear, format: GptqCheckpointFormat): GptqTensors {
  const { bits, rows: n, cols: k } = l;
  const groups = groupCount(l);
  const qweight = new Int32Array(((k * bits) / 32) * n);
  // intweight[i][col]: level of input i for output col ([K, N], as pack transposes it).
  for (let col = 0; col < n; col++) {
    const intweight = (i: number) => l.levels[col * k + i]!;
    packColumn(intweight, k, bits, (row, v) => (qweight[row * n + col]! |= v));
  }
  const zcols = (n * bits) / 32;
  const qzeros = new Int32Array(groups * zcols);
  for (let g = 0; g < groups; g++) {
    const zero = (j: number) => (l.zeros[g * n + j]! - (format === 'gptq' ? 1 : 0)) >>> 0;
    packColumn(zero, n, bits, (c, v) => (qzeros[g * zcols + c]! |= v));
  }
  const gIdx = l.gIdx?.slice() ?? Int32Array.from({ length: k }, (_, i) => Math.floor(i / l.groupSize));
  return { qweight, qzeros, scales: l.scales.slice(), gIdx };
}

/** AutoGPTQ's packing loop over `count` values along one axis, OR-ing each word's bits in. */
function packColumn(value: (i: number) => number, count: number, bits: number, or: (word: number, bits: number) => void): void {
  let i = 0;
  let row = 0;
  while (i < count) {
    if (bits !== 3) {
      for (let j = i; j < i + 32 / bits; j++) or(row, value(j) << (bits * (j - i)));
      i += 32 / bits;
      row += 1;
      continue;
    }
    for (let j = i; j < i + 10; j++) or(row, value(j) << (3 * (j - i)));
    i += 10;
    or(row, value(i) << 30);
    row += 1;
    or(row, (value(i) >> 2) & 1);
    i += 1;
    for (let j = i; j < i + 10; j++) or(row, value(j) << (3 * (j - i) + 1));
    i += 10;
    or(row, value(i) << 31);
    row += 1;
    or(row, (value(i) >> 1) & 0x3);
    i += 1;
    for (let j = i; j < i + 10; j++) or(row, value(j) << (3 * (j - i) + 2));
    i += 10;
    row += 1;
  }
}

/**
 * Unpacks a layer's GPTQ tensors, reading each packed axis as one bit string (see GptqTensors).
 * `g_idx` must be k / groupSize: a caller checks that (act-order checkpoints are refused there).
 */
export function unpackGptq(
  t: Omit<GptqTensors, 'gIdx'>,
  bits: 2 | 3 | 4,
  rows: number,
  cols: number,
  groupSize: number,
  format: GptqCheckpointFormat,
): UnpackedLinear {
  const groups = Math.ceil(cols / groupSize);
  const levels = new Uint8Array(rows * cols);
  for (let n = 0; n < rows; n++) {
    const word = (r: number) => t.qweight[r * rows + n]!;
    for (let k = 0; k < cols; k++) levels[n * cols + k] = bitField(word, k, bits);
  }
  const zcols = (rows * bits) / 32;
  const zeros = new Uint16Array(groups * rows);
  // v1 kernels add the 1 back per field after unpacking, so a stored 2^bits - 1 reads as 2^bits.
  const add = format === 'gptq' ? 1 : 0;
  for (let g = 0; g < groups; g++) {
    const word = (c: number) => t.qzeros[g * zcols + c]!;
    for (let n = 0; n < rows; n++) zeros[g * rows + n] = bitField(word, n, bits) + add;
  }
  return { bits, groupSize, rows, cols, levels, zeros, scales: t.scales };
}
