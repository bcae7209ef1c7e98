import {
  dtypeBytes,
  f32ToF16Bits,
  f16BitsToF32,
  GPU_KV_DTYPES,
  isOneOf,
  kvI4Groups,
  quantizeKvI4Row,
  quantizeKvI8Row,
  type GpuKvDtype,
} from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
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
 *
 * An i4 pool holds each row on its own as `headDim / 8` words of eight 4-bit values (element e in
 * bits 4 * (e % 8) of word e / 8, two's complement) followed by its G = kvI4Groups(headDim) f16
 * group scales, two to a word (group g in the low half of word g / 2 when g is even): `headDim / 2
 * + 2G` bytes a row, rows one after another, so a block is again one contiguous run.
 */

/** Bytes of `rows` K (or V) rows of headDim elements in a pool of kvDtype. */
export function kvPoolRowBytes(kvDtype: GpuKvDtype, headDim: number): number {
  if (kvDtype === 'i4') return 4 * i4RowWords(headDim);
  return kvDtype === 'i8' ? headDim + 2 : headDim * dtypeBytes(kvDtype);
}

/**
 * Throws a KernelShapeError unless `dtype` is a pool type whose rows can be headDim values long:
 * an even headDim for f16, a multiple of 4 for i8, a power of two from 8 to 256 for i4 (the kernels
 * that take a pool check it here).
 */
export function requireKvPoolDtype(kernel: string, dtype: string, headDim: number): asserts dtype is GpuKvDtype {
  if (!isOneOf(GPU_KV_DTYPES, dtype)) {
    const names = GPU_KV_DTYPES.map((d) => `'${d}'`);
    throw new KernelShapeError(kernel, `kvDtype must be ${names.slice(0, -1).join(', ')} or ${names.at(-1)!}, got ${dtype}`);
  }
  const needs =
    dtype === 'f16' && headDim % 2 !== 0
      ? 'an f16 pool needs an even headDim'
      : dtype === 'i8' && headDim % 4 !== 0
        ? 'an i8 pool needs a headDim that is a multiple of 4'
        : dtype === 'i4' && kvI4Groups(headDim) === 0
          ? 'an i4 pool needs a headDim that is a power of two from 8 to 256'
          : undefined;
  if (needs) throw new KernelShapeError(kernel, `${needs}, got ${headDim}`);
}

/** Words of an i4 pool's row: its packed values, then its scales, two to a word. */
export const i4RowWords = (headDim: number) => headDim / 8 + kvI4Groups(headDim) / 2;

/** The storage format attention reads a pool of kvDtype through (vec4 i = elements 4i..4i+3). */
export function kvPoolFormat(kvDtype: GpuKvDtype, shaderF16: boolean, headDim: number): StorageFormat {
  if (kvDtype === 'i4') return kvI4Format(headDim);
  return kvDtype === 'i8' ? kvI8Format(headDim) : storageFormat(kvDtype, shaderF16);
}

const I4_FORMATS = new Map<number, StorageFormat>();

/**
 * An i4 pool of head dim `headDim` (kvI4Groups(headDim) > 0) as a StorageFormat over
 * `array<u32>`: a vec4 unit is half a word of values, all in one scale group.
 */
export function kvI4Format(headDim: number): StorageFormat {
  let f = I4_FORMATS.get(headDim);
  if (f) return f;
  const rowWords = i4RowWords(headDim);
  const groupSize = headDim / kvI4Groups(headDim);
  // Row r of element e (or unit i), the row's first word, and element e's scale.
  const locate = (e: string, b: string) => `let base = r * ${rowWords}u;
  let g = (${e}) / ${groupSize}u;
  let s = unpack2x16float(${b}[base + ${headDim / 8}u + (g >> 1u)])[g & 1u];`;
  f = {
    dtype: 'i4',
    // Kernel names carry the head dim already.
    tag: 'i4',
    blockElements: headDim,
    blockBytes: rowWords * 4,
    features: [],
    enable: [],
    elementType: () => 'u32',
    load: (unit, b) =>
      unit === 'vec4'
        ? `let r = i / ${headDim / 4}u;
  let c = i - r * ${headDim / 4}u;
  ${locate('4u * c', b)}
  let w = bitcast<i32>(${b}[base + (c >> 1u)]);
  // Sign-extend each nibble: shift it to the top, then arithmetic-shift it back down.
  let q = (vec4<i32>(w) << (vec4<u32>(28u, 24u, 20u, 16u) - vec4<u32>((c & 1u) * 16u))) >> vec4<u32>(28u);
  return vec4<f32>(q) * s;`
        : `let r = i / ${headDim}u;
  let e = i - r * ${headDim}u;
  ${locate('e', b)}
  let w = bitcast<i32>(${b}[base + (e >> 3u)]);
  return f32((w << (28u - 4u * (e & 7u))) >> 28u) * s;`,
  };
  I4_FORMATS.set(headDim, f);
  return f;
}

/**
 * An f32 pool (`[rows, headDim]`) packed as an i4 pool holds it. A row of NaN (a test's poison)
 * gets NaN scales, so it reads back as NaN. For tests and uploads.
 */
export function packKvI4Pool(values: Float32Array, headDim: number): Uint32Array {
  const rows = Math.ceil(values.length / headDim);
  const groups = kvI4Groups(headDim);
  const rowWords = i4RowWords(headDim);
  const words = new Uint32Array(rows * rowWords);
  const halves = new Uint16Array(words.buffer);
  const q = new Int8Array(headDim);
  const scales = new Float32Array(groups);
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * headDim, (r + 1) * headDim);
    quantizeKvI4Row(row, q, scales);
    const base = r * rowWords;
    for (let e = 0; e < headDim; e++) words[base + (e >> 3)]! |= (q[e]! & 15) << (4 * (e & 7));
    const poisoned = row.every(Number.isNaN);
    for (let g = 0; g < groups; g++) halves[2 * (base + headDim / 8) + g] = poisoned ? 0x7e00 : f32ToF16Bits(scales[g]!);
  }
  return words;
}

/** The f32 values an i4 pool stands for (`[rows, headDim]`): what attention reads from it. */
export function unpackKvI4Pool(words: Uint32Array, headDim: number, rows: number): Float32Array {
  const rowWords = i4RowWords(headDim);
  const groupSize = headDim / kvI4Groups(headDim);
  const halves = new Uint16Array(words.buffer, words.byteOffset, words.byteLength / 2);
  const out = new Float32Array(rows * headDim);
  for (let r = 0; r < rows; r++) {
    const base = r * rowWords;
    for (let e = 0; e < headDim; e++) {
      const s = f16BitsToF32(halves[2 * (base + headDim / 8) + Math.floor(e / groupSize)]!);
      const q = ((words[base + (e >> 3)]! >>> (4 * (e & 7))) << 28) >> 28;
      out[r * headDim + e] = q * s;
    }
  }
  return out;
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
