import { dtypeBytes, quantizeKvI8Row, type GpuKvDtype } from '@llm/quant';
import { storageFormat, type StorageFormat } from './storage-format.js';

/**
 * How the paged KV pool is stored. f32 and f16 pools hold `[numBlocks, numKvHeads, blockSize,
 * headDim]` elements. An i8 pool holds the same rows (row r = (block * numKvHeads + h) *
 * blockSize + offset), each as headDim int8 values plus one f16 scale, in pairs of rows: words
 * `(r >> 1) * (headDim / 2 + 1)` onwards hold row 2p's headDim / 4 words of four int8 (element
 * 4c + j in byte j of word c), then row 2p + 1's, then one word with the two rows' f16 scales
 * (row 2p in the low half). Every address follows from the row with constant arithmetic, a
 * row's scale sits beside its values, and with an even blockSize a block is one contiguous run
 * of `numKvHeads * blockSize * (headDim + 2)` bytes, so block copies and swaps move the scales
 * with the values. Two rows share a scale word, so the kv-write kernel sets its half atomically.
 */

/** Bytes of `rows` K (or V) rows of headDim elements in a pool of kvDtype. */
export function kvPoolRowBytes(kvDtype: GpuKvDtype, headDim: number): number {
  return kvDtype === 'i8' ? headDim + 2 : headDim * dtypeBytes(kvDtype);
}

/** The storage format attention reads a pool of kvDtype through (vec4 i = elements 4i..4i+3). */
export function kvPoolFormat(kvDtype: GpuKvDtype, shaderF16: boolean, headDim: number): StorageFormat {
  return kvDtype === 'i8' ? kvI8Format(headDim) : storageFormat(kvDtype, shaderF16);
}

const I8_FORMATS = new Map<number, StorageFormat>();

/** An i8 pool of head dim `headDim` (a multiple of 4) as a StorageFormat over `array<u32>`. */
export function kvI8Format(headDim: number): StorageFormat {
  let f = I8_FORMATS.get(headDim);
  if (f) return f;
  const d4 = headDim / 4;
  // Row r of unit i, the first word of its pair, and which half of the pair it is.
  const locate = (unitsPerRow: number, b: string) => `let r = i / ${unitsPerRow}u;
  let c = i - r * ${unitsPerRow}u;
  let base = (r >> 1u) * ${2 * d4 + 1}u;
  let s = unpack2x16float(${b}[base + ${2 * d4}u])[r & 1u];`;
  f = {
    dtype: 'i8',
    // Kernel names carry the head dim already.
    tag: 'i8',
    blockElements: 2 * headDim,
    blockBytes: 2 * headDim + 4,
    features: [],
    enable: [],
    elementType: () => 'u32',
    load: (unit, b) => {
      const head = locate(unit === 'vec4' ? d4 : headDim, b);
      return unit === 'vec4'
        ? `${head}
  let w = bitcast<i32>(${b}[base + (r & 1u) * ${d4}u + c]);
  // Sign-extend each byte: shift it to the top, then arithmetic-shift it back down.
  let q = (vec4<i32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
  return vec4<f32>(q) * s;`
        : `${head}
  let w = bitcast<i32>(${b}[base + (r & 1u) * ${d4}u + c / 4u]);
  return f32((w << (24u - 8u * (c & 3u))) >> 24u) * s;`;
    },
  };
  I8_FORMATS.set(headDim, f);
  return f;
}

/**
 * An f32 pool (`[rows, headDim]`) packed as an i8 pool holds it (rows padded to an even count).
 * A row of NaN (a test's poison) gets a NaN scale, so it reads back as NaN. For tests and uploads.
 */
export function packKvI8Pool(values: Float32Array, headDim: number): Uint32Array {
  const rows = Math.ceil(values.length / headDim);
  const pairWords = headDim / 2 + 1;
  const words = new Uint32Array(Math.ceil(rows / 2) * pairWords);
  const bytes = new Int8Array(words.buffer);
  const halves = new Uint16Array(words.buffer);
  const q = new Int8Array(headDim);
  const scaleBits = new Float32Array(1);
  const scaleWord = new Uint32Array(scaleBits.buffer);
  for (let r = 0; r < rows; r++) {
    const s = quantizeKvI8Row(values.subarray(r * headDim, (r + 1) * headDim), q);
    const base = (r >> 1) * pairWords;
    bytes.set(q, 4 * (base + (r & 1) * (headDim / 4)));
    scaleBits[0] = s;
    // s is an exact f16: sign 0, exponent rebias 127 -> 15, top 10 mantissa bits.
    const bits = scaleWord[0]!;
    const poisoned = values.subarray(r * headDim, (r + 1) * headDim).every(Number.isNaN);
    halves[2 * (base + headDim / 2) + (r & 1)] = poisoned
      ? 0x7e00
      : (((bits >>> 23) - 112) << 10) | ((bits >>> 13) & 0x3ff);
  }
  return words;
}

/** The f32 values an i8 pool stands for (`[rows, headDim]`): what attention reads from it. */
export function unpackKvI8Pool(words: Uint32Array, headDim: number, rows: number): Float32Array {
  const pairWords = headDim / 2 + 1;
  const bytes = new Int8Array(words.buffer, words.byteOffset, words.byteLength);
  const halves = new Uint16Array(words.buffer, words.byteOffset, words.byteLength / 2);
  const out = new Float32Array(rows * headDim);
  for (let r = 0; r < rows; r++) {
    const base = (r >> 1) * pairWords;
    const h = halves[2 * (base + headDim / 2) + (r & 1)]!;
    const s = h === 0x7e00 ? Number.NaN : 2 ** (((h >> 10) & 0x1f) - 15) * (1 + (h & 0x3ff) / 1024);
    const at = 4 * (base + (r & 1) * (headDim / 4));
    for (let d = 0; d < headDim; d++) out[r * headDim + d] = bytes[at + d]! * s;
  }
  return out;
}
