import {
  elementType,
  f16BitsToF32,
  GROUP_DTYPES,
  groupQuantParams,
  isOneOf,
  LlmError,
  readGroupLevel,
  type GroupDtype,
  type MatrixDtype,
} from '@llm/quant';
import { interleaveLanes } from './lanes-layout.js';

/** The block-quantized types the kernels read in place (MATRIX_DTYPES less the floats). */
export type BlockMatrixDtype = Exclude<MatrixDtype, 'f32' | 'f16'>;
/** ggml's block formats among them (the others are the group-quantized integers). */
type GgmlBlockDtype = Exclude<BlockMatrixDtype, GroupDtype>;

export const isGroupDtype = (dtype: string): dtype is GroupDtype => isOneOf(GROUP_DTYPES, dtype);

/**
 * A block-quantized tensor as the GPU holds it: two arrays of 4-byte words, so that no read
 * straddles a word (ggml's 18-, 22-, 34- and 210-byte blocks are not 4-byte aligned).
 * `quants` holds every 32-element group's quantized values in element order, 16-byte aligned per
 * group (per pair of groups for Q6_K); `scales` holds the scales (and the fifth bits of Q5_*)
 * per group or per 256-element super-block, the K-quants' 6-bit scales and mins unpacked to bytes.
 * Group g of the tensor covers elements [32 g, 32 g + 32), whatever row it belongs to: rows are
 * whole blocks, so the kernels find a row's groups from K alone.
 */
export interface RepackedBlocks {
  readonly quants: Uint32Array;
  readonly scales: Uint32Array;
}

/**
 * Per type: words of quants per 32-element group, and words of scales per group (32-element
 * types) or per 256-element super-block (K-quants).
 *
 * - q8_0: quants = the int8 values (4 per word); scales = the half d of group g in half g
 *   (two per word).
 * - q4_0 / q4_1: quants = 8 nibbles per word, element 8w + t at bits 4t; scales = halves d (q4_0,
 *   two groups per word) or (d, m) (q4_1, one word per group).
 * - q5_0 / q5_1: quants as q4_*; scales = 2 words per group: (d, 0) or (d, m) as halves, then the
 *   32 fifth bits (bit l = element l).
 * - q4_k: quants as q4_0; scales = 5 words per super-block: (d, dmin) halves, then group j's
 *   6-bit scale and min as bytes 2 (j % 2) and 2 (j % 2) + 1 of word 1 + j / 2.
 * - q5_k: as q4_k plus 8 words of fifth bits (one per group): 13 words per super-block.
 * - q6_k: quants per pair of groups (g, g + 1): the low nibbles of g (4 words), of g + 1 (4
 *   words), then the high 2-bit pairs of g (2 words, element l at bits 2 (l % 16) of word l / 16)
 *   and of g + 1; scales = 5 words per super-block: d as an f32, then the 16 int8 scales.
 */
const LAYOUT: Readonly<Record<GgmlBlockDtype, { groupQuantWords: number; scaleWords: number; perSuperBlock: boolean }>> = {
  q8_0: { groupQuantWords: 8, scaleWords: 0.5, perSuperBlock: false },
  q4_0: { groupQuantWords: 4, scaleWords: 0.5, perSuperBlock: false },
  q4_1: { groupQuantWords: 4, scaleWords: 1, perSuperBlock: false },
  q5_0: { groupQuantWords: 4, scaleWords: 2, perSuperBlock: false },
  q5_1: { groupQuantWords: 4, scaleWords: 2, perSuperBlock: false },
  q4_k: { groupQuantWords: 4, scaleWords: 5, perSuperBlock: true },
  q5_k: { groupQuantWords: 4, scaleWords: 13, perSuperBlock: true },
  q6_k: { groupQuantWords: 6, scaleWords: 5, perSuperBlock: true },
};

/**
 * The group-quantized integers (w2g*, w3g*, w4g*): levels per 32-element group in element order,
 * scales per G-element group of the checkpoint, one word each: the half scale in the low 16 bits,
 * the integer zero point in the high 16 (value = (q - zero) * scale, exact in f32).
 *
 * - w4: 4 words per group (nibbles, element 8w + t at bits 4t, as q4_0): one vec4.
 * - w2: 2 words per group (element 16w + t at bits 2t); groups 2p and 2p + 1 share a vec4 (xy, zw).
 * - w3: the low two bits of each level as w2 (2 words), the third bits in a word of their own (bit
 *   l = element l); per 4 groups 3 vec4: the low words of groups 4p, 4p + 1, then of 4p + 2,
 *   4p + 3, then the 4 third-bit words. Bit planes rather than GPTQ's 3-bit string keep every
 *   level inside one word.
 */
function groupWords(dtype: GroupDtype, elements: number): { quants: number; scales: number } {
  const { bits, groupSize } = groupQuantParams(dtype);
  const groups = elements / 32;
  const quants = bits === 4 ? groups * 4 : bits === 2 ? Math.ceil(groups / 2) * 4 : Math.ceil(groups / 4) * 12;
  return { quants, scales: elements / groupSize };
}

/** The block types whose groups the lanes layout interleaves: each group's quants and scales its own. */
export const LANE_BLOCK_DTYPES = ['q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1'] as const;
export type LaneBlockDtype = (typeof LANE_BLOCK_DTYPES)[number];
export const isLaneBlockDtype = (dtype: string): dtype is LaneBlockDtype => isOneOf(LANE_BLOCK_DTYPES, dtype);

/**
 * Repacked `rows` rows of `dtype` (a LaneBlockDtype) in the lanes layout: group j of row n moves
 * to slot `((n / lanes) * G + j) * lanes + n % lanes` (G groups per row) in both arrays, the last
 * block of rows padded with zero groups. The kernels then read group slots where they read group
 * indices, and the groups one step of a subgroup loads sit side by side.
 */
export function interleaveBlockLanes(
  dtype: LaneBlockDtype,
  { quants, scales }: RepackedBlocks,
  rows: number,
  lanes: number,
): RepackedBlocks {
  const l = LAYOUT[dtype];
  const outQuants = interleaveLanes(quants, rows, l.groupQuantWords, lanes);
  // Half-word scales (two groups per word) move as halves, the others as whole words.
  if (l.scaleWords >= 1) return { quants: outQuants, scales: interleaveLanes(scales, rows, l.scaleWords, lanes) };
  const halves = interleaveLanes(new Uint16Array(scales.buffer, scales.byteOffset, quants.length / l.groupQuantWords), rows, 1, lanes);
  return { quants: outQuants, scales: new Uint32Array(halves.buffer) };
}

/** Words of quants and of scales the GPU holds for `elements` values of `dtype`. */
export function repackedWords(dtype: BlockMatrixDtype, elements: number): { quants: number; scales: number } {
  if (isGroupDtype(dtype)) return groupWords(dtype, elements);
  const l = LAYOUT[dtype];
  const groups = elements / 32;
  const scaleUnits = l.perSuperBlock ? elements / 256 : groups;
  return { quants: groups * l.groupQuantWords, scales: Math.ceil(scaleUnits * l.scaleWords) };
}

/** GPU bytes per 32 or 256 elements (the type's block) after repacking: the kernel table's figure. */
export function repackedBlockBytes(dtype: BlockMatrixDtype): { elements: number; bytes: number } {
  const elements = elementType(dtype).blockSize;
  if (isGroupDtype(dtype)) {
    // Over many groups, so that the vec4 padding of a last partial w2/w3 vec4 does not count.
    const w = groupWords(dtype, 512 * elements);
    return { elements, bytes: ((w.quants + w.scales) * 4) / 512 };
  }
  const w = repackedWords(dtype, elements === 32 ? 64 : elements);
  const perBlock = elements === 32 ? 2 : 1;
  return { elements, bytes: ((w.quants + w.scales) * 4) / perBlock };
}

/** The little-endian 16-bit word at `at` (an f16 scale's bits). */
export const half = (src: Uint8Array, at: number): number => src[at]! | (src[at + 1]! << 8);
const word = (src: Uint8Array, at: number): number =>
  (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;

/** Stores 32 nibbles (levels 0-15 of one group) at quants[at..at + 4), element 8w + t at bits 4t. */
function packNibbles(levels: Uint8Array, quants: Uint32Array, at: number): void {
  for (let w = 0; w < 4; w++) {
    let v = 0;
    for (let t = 7; t >= 0; t--) v = (v << 4) | (levels[8 * w + t]! & 0xf);
    quants[at + w] = v >>> 0;
  }
}

/** The 4-bit levels of a Q4_0-style 16-byte field: element j low nibble, j + 16 high nibble. */
export function splitNibbles(src: Uint8Array, at: number, levels: Uint8Array): void {
  for (let j = 0; j < 16; j++) {
    levels[j] = src[at + j]! & 0xf;
    levels[j + 16] = src[at + j]! >> 4;
  }
}

/** ggml's get_scale_min_k4 on the 12-byte field at `at`: scale and min of sub-block j. */
function scaleMinK4(src: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [src[at + j]! & 63, src[at + j + 4]! & 63];
  return [
    (src[at + j + 4]! & 0xf) | ((src[at + j - 4]! >> 6) << 4),
    (src[at + j + 4]! >> 4) | ((src[at + j]! >> 6) << 4),
  ];
}

/**
 * Repacks `elements` values of `dtype` as stored in a GGUF (whole blocks, ggml's layout) into the
 * layout the kernels read (see RepackedBlocks). Pure and exact: every level, scale and min is
 * kept bit for bit.
 */
export function repackBlocks(dtype: BlockMatrixDtype, src: Uint8Array, elements: number): RepackedBlocks {
  const type = elementType(dtype);
  if (!Number.isSafeInteger(elements) || elements <= 0 || elements % type.blockSize !== 0) {
    throw new LlmError('invalid_argument', `${elements} elements of ${dtype} are not a whole number of ${type.blockSize}-element blocks`);
  }
  const blocks = elements / type.blockSize;
  if (src.length !== blocks * type.bytesPerBlock) {
    throw new LlmError('invalid_argument', `${elements} elements of ${dtype} take ${blocks * type.bytesPerBlock} bytes, not ${src.length}`);
  }
  const words = repackedWords(dtype, elements);
  const quants = new Uint32Array(words.quants);
  const scales = new Uint32Array(words.scales);
  if (isGroupDtype(dtype)) {
    repackGroups(dtype, src, blocks, quants, scales);
    return { quants, scales };
  }
  const levels = new Uint8Array(32);
  const bpb = type.bytesPerBlock;
  switch (dtype) {
    case 'q8_0': {
      const qBytes = new Uint8Array(quants.buffer);
      const halves = new Uint16Array(scales.buffer);
      for (let b = 0; b < blocks; b++) {
        halves[b] = half(src, b * bpb);
        qBytes.set(src.subarray(b * bpb + 2, b * bpb + 34), b * 32);
      }
      break;
    }
    case 'q4_0':
    case 'q4_1':
    case 'q5_0':
    case 'q5_1': {
      const halves = new Uint16Array(scales.buffer);
      const qsAt = { q4_0: 2, q4_1: 4, q5_0: 6, q5_1: 8 }[dtype];
      for (let b = 0; b < blocks; b++) {
        const at = b * bpb;
        splitNibbles(src, at + qsAt, levels);
        packNibbles(levels, quants, b * 4);
        if (dtype === 'q4_0') {
          halves[b] = half(src, at);
        } else if (dtype === 'q4_1') {
          scales[b] = (half(src, at) | (half(src, at + 2) << 16)) >>> 0;
        } else {
          scales[2 * b] = dtype === 'q5_1' ? (half(src, at) | (half(src, at + 2) << 16)) >>> 0 : half(src, at);
          scales[2 * b + 1] = word(src, at + (dtype === 'q5_1' ? 4 : 2));
        }
      }
      break;
    }
    case 'q4_k':
    case 'q5_k': {
      const perSb = LAYOUT[dtype].scaleWords;
      const qsAt = dtype === 'q4_k' ? 16 : 48;
      for (let b = 0; b < blocks; b++) {
        const at = b * bpb;
        const s = b * perSb;
        scales[s] = (half(src, at) | (half(src, at + 2) << 16)) >>> 0;
        for (let j = 0; j < 8; j++) {
          const [sc, m] = scaleMinK4(src, at + 4, j);
          scales[s + 1 + (j >> 1)]! |= ((sc | (m << 8)) << (16 * (j & 1))) >>> 0;
          // Groups 2p and 2p + 1 share 32 bytes of qs: low nibbles, then high nibbles.
          const q = at + qsAt + 32 * (j >> 1);
          for (let l = 0; l < 32; l++) levels[l] = j & 1 ? src[q + l]! >> 4 : src[q + l]! & 0xf;
          packNibbles(levels, quants, (8 * b + j) * 4);
          if (dtype === 'q5_k') {
            let bits = 0;
            for (let l = 31; l >= 0; l--) bits = (bits << 1) | ((src[at + 16 + l]! >> j) & 1);
            scales[s + 5 + j] = bits >>> 0;
          }
        }
      }
      break;
    }
    case 'q6_k': {
      const q6 = new Uint8Array(256);
      for (let b = 0; b < blocks; b++) {
        const at = b * bpb;
        for (let n = 0; n < 2; n++) {
          const ql = at + 64 * n;
          const qh = at + 128 + 32 * n;
          for (let l = 0; l < 32; l++) {
            const h = src[qh + l]!;
            q6[128 * n + l] = (src[ql + l]! & 0xf) | ((h & 3) << 4);
            q6[128 * n + l + 32] = (src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4);
            q6[128 * n + l + 64] = (src[ql + l]! >> 4) | (((h >> 4) & 3) << 4);
            q6[128 * n + l + 96] = (src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4);
          }
        }
        for (let j = 0; j < 8; j++) {
          const g = 8 * b + j;
          const base = (g >> 1) * 12;
          for (let l = 0; l < 32; l++) levels[l] = q6[32 * j + l]! & 0xf;
          packNibbles(levels, quants, base + 4 * (g & 1));
          for (let w = 0; w < 2; w++) {
            let v = 0;
            for (let t = 15; t >= 0; t--) v = (v << 2) | (q6[32 * j + 16 * w + t]! >> 4);
            quants[base + 8 + 2 * (g & 1) + w] = v >>> 0;
          }
        }
        const s = b * 5;
        new DataView(scales.buffer).setFloat32(s * 4, f16BitsToF32(half(src, at + 208)), true);
        for (let w = 0; w < 4; w++) scales[s + 1 + w] = word(src, at + 192 + 4 * w);
      }
      break;
    }
  }
  return { quants, scales };
}


/** The group-quantized integers' blocks (see @llm/quant's group-quant.ts) in the layout of groupWords. */
function repackGroups(dtype: GroupDtype, src: Uint8Array, blocks: number, quants: Uint32Array, scales: Uint32Array): void {
  const { bits, groupSize } = groupQuantParams(dtype);
  const bpb = elementType(dtype).bytesPerBlock;
  for (let b = 0; b < blocks; b++) {
    const at = b * bpb;
    scales[b] = (half(src, at) | (half(src, at + 2) << 16)) >>> 0;
    for (let l = 0; l < groupSize; l++) {
      const q = readGroupLevel(src, at, bits, l);
      const e = b * groupSize + l;
      const g = e >> 5;
      const i = e & 31;
      if (bits === 4) {
        quants[g * 4 + (i >> 3)]! |= q << (4 * (i & 7));
      } else if (bits === 2) {
        quants[(g >> 1) * 4 + (g & 1) * 2 + (i >> 4)]! |= q << (2 * (i & 15));
      } else {
        const base = (g >> 2) * 12;
        quants[base + ((g >> 1) & 1) * 4 + (g & 1) * 2 + (i >> 4)]! |= (q & 3) << (2 * (i & 15));
        quants[base + 8 + (g & 3)]! |= (q >> 2) << i;
      }
    }
  }
}
