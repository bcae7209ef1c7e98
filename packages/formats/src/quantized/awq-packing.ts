import { groupCount, type UnpackedLinear } from './int-packing.js';

/**
 * AWQ's GEMM packing (llm-awq, AutoAWQ `WQLinear_GEMM`, transformers' AWQ integration, `version`
 * "gemm"), 4 bits, for N outputs and K inputs:
 *
 * - `qweight` int32 [K, N / 8]: row k holds the levels of input k, 8 outputs per word; word c
 *   holds outputs 8c .. 8c + 7 with output 8c + ORDER[i] in nibble i, ORDER = [0, 2, 4, 6, 1, 3,
 *   5, 7] (so output 8c + j sits in nibble REVERSE[j], REVERSE = [0, 4, 1, 5, 2, 6, 3, 7]).
 * - `qzeros` int32 [K / g, N / 8]: the zero points, the same order; stored as they are (no - 1).
 * - `scales` f16 [K / g, N].
 *
 * value(n, k) = scales[k / g, n] * (level(n, k) - zero(k / g, n)).
 */
export interface AwqTensors {
  /** [K, N / 8] */
  readonly qweight: Int32Array;
  /** [K / g, N / 8] */
  readonly qzeros: Int32Array;
  /** [K / g, N] half bits */
  readonly scales: Uint16Array;
}

const ORDER = [0, 2, 4, 6, 1, 3, 5, 7] as const;
const REVERSE = [0, 4, 1, 5, 2, 6, 3, 7] as const;

/** Shapes of a layer's AWQ tensors. */
export function awqShapes(rows: number, cols: number, groupSize: number) {
  const groups = Math.ceil(cols / groupSize);
  return { qweight: [cols, rows / 8], qzeros: [groups, rows / 8], scales: [groups, rows] } as const;
}

/** Packs as WQLinear_GEMM.from_linear does: `qweight[:, col] |= intweight[:, col * 8 + ORDER[i]] << 4 i`. */
export function packAwq(l: UnpackedLinear): AwqTensors {
  const { rows: n, cols: k } = l;
  const groups = groupCount(l);
  const qweight = new Int32Array(k * (n / 8));
  const qzeros = new Int32Array(groups * (n / 8));
  for (let col = 0; col < n / 8; col++) {
    for (let i = 0; i < 8; i++) {
      const out = col * 8 + ORDER[i]!;
      for (let r = 0; r < k; r++) qweight[r * (n / 8) + col]! |= l.levels[out * k + r]! << (4 * i);
      for (let g = 0; g < groups; g++) qzeros[g * (n / 8) + col]! |= l.zeros[g * n + out]! << (4 * i);
    }
  }
  return { qweight, qzeros, scales: l.scales.slice() };
}

/** Unpacks AWQ GEMM tensors as AutoAWQ's unpack_awq then reverse_awq_order do. */
export function unpackAwq(t: AwqTensors, rows: number, cols: number, groupSize: number): UnpackedLinear {
  const groups = Math.ceil(cols / groupSize);
  const levels = new Uint8Array(rows * cols);
  const zeros = new Uint16Array(groups * rows);
  const nibble = (word: number, n: number) => (word >>> (4 * REVERSE[n & 7]!)) & 15;
  for (let n = 0; n < rows; n++) {
    for (let k = 0; k < cols; k++) levels[n * cols + k] = nibble(t.qweight[k * (rows / 8) + (n >> 3)]!, n);
    for (let g = 0; g < groups; g++) zeros[g * rows + n] = nibble(t.qzeros[g * (rows / 8) + (n >> 3)]!, n);
  }
  return { bits: 4, groupSize, rows, cols, levels, zeros, scales: t.scales };
}
