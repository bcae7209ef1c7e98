import { GptqError } from './gptq-error.js';
import type { BlockDtype } from '../dtype-sets.js';
import * as rounding from '../codecs/float32-rounding.js';
import { readHalf, writeHalf } from '../codecs/half-scale.js';
import { signedAbsMax } from '../codecs/q4-0.js';
import { minMax } from '../codecs/q4-1.js';
import { encodeScaleMinGroups } from '../codecs/q4-k.js';
import { scaleMinK4 } from '../codecs/k-quant-scales.js';

// Bound once: under a transpiling loader an imported binding is read through a getter on every use.
const { f, nearestInt, roundHalfAwayFromZero } = rounding;

/**
 * The quantization grid of one ggml block format, split the way GPTQ needs it: the block's scale
 * (and minimum) is chosen once, from the block's values when the quantizer reaches it, exactly as
 * ggml's reference quantizer chooses it; then each value is put on that grid one at a time, so
 * the error of one can be fed into the values not yet quantized. Choosing the scale and then
 * quantizing every value unchanged writes the same bytes as the format's codec.
 */
export interface GptqGrid {
  readonly type: BlockDtype;
  /** Values per block: 32, or 256 for the K formats. */
  readonly blockSize: number;
  readonly bytesPerBlock: number;
  /** f32 numbers the grid keeps per block beside its bytes (scale, inverse, minimum, ...). */
  readonly paramCount: number;
  /**
   * Chooses the block's scale (and minimum) from `values[at .. at + blockSize)` as ggml's
   * quantize_row_*_ref does, writes them into the zeroed block at `out[outAt]`, and keeps what
   * quantizing needs in `params[p .. p + paramCount)`.
   */
  setScale(values: Float32Array, at: number, out: Uint8Array, outAt: number, params: Float32Array, p: number): void;
  /**
   * Stores value `j` of the block as the level ggml's reference quantizer gives `x` (clamped to the
   * grid, since updated values may leave the range the scale was chosen for) and returns the value
   * that level decodes to.
   */
  quantizeValue(x: number, j: number, out: Uint8Array, outAt: number, params: Float32Array, p: number): number;
}

/** A 4-bit level of a 32-value block whose nibbles are laid out as Q4_0's (value j and j + 16 share a byte). */
function putNibble(out: Uint8Array, qsAt: number, j: number, q: number): void {
  if (j < 16) out[qsAt + j] = out[qsAt + j]! | q;
  else out[qsAt + j - 16] = out[qsAt + j - 16]! | (q << 4);
}

/** Q5_0 and Q5_1: low nibbles as Q4_0 at `qsAt`, fifth bits as a little-endian u32 at `qhAt`. */
function putFiveBits(out: Uint8Array, qhAt: number, qsAt: number, j: number, q: number): void {
  putNibble(out, qsAt, j, q & 0xf);
  if (q & 0x10) out[qhAt + (j >> 3)] = out[qhAt + (j >> 3)]! | (1 << (j & 7));
}

/** Q4_0 and Q5_0: d = signed absmax / -half, level trunc(x / d + half + 0.5) in [0, 2 half). */
function symmetricGrid(type: 'q4_0' | 'q5_0', half: number, bytesPerBlock: number): GptqGrid {
  const top = 2 * half - 1;
  const offset = f(half + 0.5);
  return {
    type,
    blockSize: 32,
    bytesPerBlock,
    paramCount: 2,
    setScale(values, at, out, outAt, params, p) {
      const d = f(signedAbsMax(values, at, 32) / -half);
      params[p] = d !== 0 ? f(1 / d) : 0;
      params[p + 1] = writeHalf(out, outAt, d);
    },
    quantizeValue(x, j, out, outAt, params, p) {
      const q = Math.max(0, Math.min(top, Math.trunc(f(f(x * params[p]!) + offset))));
      if (type === 'q4_0') putNibble(out, outAt + 2, j, q);
      else putFiveBits(out, outAt + 2, outAt + 6, j, q);
      return (q - half) * params[p + 1]!;
    },
  };
}

/** Q4_1 and Q5_1: d = (max - min) / top, m = min, level trunc((x - min) / d + 0.5) in [0, top]. */
function affineGrid(type: 'q4_1' | 'q5_1', top: number, bytesPerBlock: number): GptqGrid {
  return {
    type,
    blockSize: 32,
    bytesPerBlock,
    paramCount: 4,
    setScale(values, at, out, outAt, params, p) {
      const [min, max] = minMax(values, at, 32);
      const d = f(f(max - min) / top);
      params[p] = d !== 0 ? f(1 / d) : 0;
      params[p + 1] = min;
      params[p + 2] = writeHalf(out, outAt, d);
      params[p + 3] = writeHalf(out, outAt + 2, min);
    },
    quantizeValue(x, j, out, outAt, params, p) {
      const q = Math.max(0, Math.min(top, Math.trunc(f(f(f(x - params[p + 1]!) * params[p]!) + 0.5))));
      if (type === 'q4_1') putNibble(out, outAt + 4, j, q);
      else putFiveBits(out, outAt + 4, outAt + 8, j, q);
      return f(q * params[p + 2]!) + params[p + 3]!;
    },
  };
}

/** Q8_0: d = absmax / 127, level round(x / d) half away from zero, in [-127, 127]. */
const q8_0Grid: GptqGrid = {
  type: 'q8_0',
  blockSize: 32,
  bytesPerBlock: 34,
  paramCount: 2,
  setScale(values, at, out, outAt, params, p) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[at + j]!));
    const d = f(amax / 127);
    params[p] = d !== 0 ? f(1 / d) : 0;
    params[p + 1] = writeHalf(out, outAt, d);
  },
  quantizeValue(x, j, out, outAt, params, p) {
    // -128 would fit an int8, but ggml's reference never writes it and some SIMD dot products
    // (sign tricks on x86) get it wrong.
    const q = Math.max(-127, Math.min(127, roundHalfAwayFromZero(f(x * params[p]!))));
    out[outAt + 2 + j] = q & 0xff;
    return q * params[p + 1]!;
  },
};

const pair = new Uint8Array(2);

/**
 * Q4_K: the super-block's d, dmin and eight 6-bit scale/min pairs are fitted as
 * quantize_row_q4_K_ref fits them (make_qkx2_quants per group of 32); each value then takes
 * nearest((x + dmin * m) / (d * sc)) in [0, 15] against its group's stored scale and minimum.
 */
const q4_kGrid: GptqGrid = {
  type: 'q4_k',
  blockSize: 256,
  bytesPerBlock: 144,
  paramCount: 16,
  setScale(values, at, out, outAt, params, p) {
    encodeScaleMinGroups(values, at, out, outAt, 15, -1, 20);
    const d = readHalf(out, outAt);
    const dmin = readHalf(out, outAt + 2);
    for (let g = 0; g < 8; g++) {
      scaleMinK4(g, out, outAt + 4, pair);
      params[p + 2 * g] = f(d * pair[0]!);
      params[p + 2 * g + 1] = f(dmin * pair[1]!);
    }
  },
  quantizeValue(x, j, out, outAt, params, p) {
    const g = j >> 5;
    const dj = params[p + 2 * g]!;
    const dm = params[p + 2 * g + 1]!;
    // A group whose scale rounded to zero decodes to -dm whatever its levels.
    const q = dj === 0 ? 0 : Math.max(0, Math.min(15, nearestInt(f(f(x + dm) / dj))));
    const byte = outAt + 16 + (g >> 1) * 32 + (j & 31);
    out[byte] = out[byte]! | (g & 1 ? q << 4 : q);
    return f(dj * q) - dm;
  },
};

const grids: ReadonlyMap<string, GptqGrid> = new Map(
  [
    symmetricGrid('q4_0', 8, 18),
    affineGrid('q4_1', 15, 20),
    symmetricGrid('q5_0', 16, 22),
    affineGrid('q5_1', 31, 24),
    q8_0Grid,
    q4_kGrid,
  ].map((grid) => [grid.type, grid]),
);

/** The block types GPTQ writes. */
export const GPTQ_TYPES: readonly BlockDtype[] = [...grids.keys()] as BlockDtype[];

/** The grid of `type`; `unsupported` for block types GPTQ does not write. */
export function gptqGrid(type: string): GptqGrid {
  const grid = grids.get(type);
  if (grid === undefined) {
    throw new GptqError('unsupported', `GPTQ does not write ${type}; it writes ${GPTQ_TYPES.join(', ')}`);
  }
  return grid;
}
