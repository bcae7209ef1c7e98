import { GROUP_DTYPES, groupQuantParams, type GroupDtype } from '@llm/quant';
import type { BlockMatrixDtype, LaneBlockDtype } from './block-repack.js';
import { repackedBlockBytes } from './block-repack.js';
import { laneIndex } from './lanes-layout.js';
import type { BlockReads, StorageFormat } from './storage-format.js';

/**
 * WGSL reads of the repacked block layouts (block-repack.ts). A group is 32 consecutive elements
 * of the tensor; `group` loads what a group needs (its quant words as vec4<u32>, its scales) into
 * `let`s named with a prefix, `unit` decodes 4 of its elements from those values. The quants
 * binding is `array<vec4<u32>>`, the scales binding `<name>_scales` an `array<u32>`. Every value
 * is computed as ggml's dequantize_row_* does (the scale products are exact in f32), so a
 * kernel's weights equal the codec's decoded values.
 */

// Four nibbles of word `w` starting at bit `s` (both WGSL u32 expressions), as a vec4<u32>.
const nibbles = (w: string, s: string) =>
  `((vec4<u32>(${w}) >> (vec4<u32>(${s}) + vec4<u32>(0u, 4u, 8u, 12u))) & vec4<u32>(15u))`;
// Low nibbles of unit j (elements 4j..4j+3) of a group whose 4 nibble words are the vec4 `q`.
const unitNibbles = (q: string, j: string) => nibbles(`${q}[(${j}) >> 1u]`, `((${j}) & 1u) * 16u`);
// The fifth bits of unit j from the group's 32-bit word `h` (bit l = element l), as 0 or 16.
const fifthBits = (h: string, j: string) =>
  `(((vec4<u32>(${h}) >> (vec4<u32>((${j}) * 4u) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u)) << vec4<u32>(4u))`;
// Half `i & 1` of the word holding halves i and i + 1 (i even) of `s`.
const halfAt = (s: string, i: string) => `unpack2x16float(${s}[(${i}) >> 1u])[(${i}) & 1u]`;

// Two-bit fields of unit j (elements 4j..4j+3) from the 2 words `q` (a vec2) holding 16 each.
const unitPairs = (q: string, j: string) =>
  `((vec4<u32>(${q}[(${j}) >> 2u]) >> (vec4<u32>(((${j}) & 3u) * 8u) + vec4<u32>(0u, 2u, 4u, 6u))) & vec4<u32>(3u))`;

/**
 * The group-quantized integers (block-repack.ts, groupWords): the levels of 32-element group g,
 * and the (scale, zero) word of its checkpoint group g / (G / 32).
 */
function groupReads(dtype: GroupDtype): BlockReads {
  const { bits, groupSize } = groupQuantParams(dtype);
  const shift = Math.log2(groupSize / 32);
  const scale = (b: string, p: string) =>
    `let ${p}sz = ${b}_scales[${p}g >> ${shift}u]; let ${p}d = unpack2x16float(${p}sz).x; let ${p}z = vec4<f32>(f32(${p}sz >> 16u));`;
  const levels =
    bits === 4
      ? { load: (b: string, p: string) => `let ${p}q = ${b}[${p}g];`, unit: (p: string, j: string) => unitNibbles(`${p}q`, j) }
      : bits === 2
        ? {
            load: (b: string, p: string) => `let ${p}v = ${b}[${p}g >> 1u]; let ${p}q = select(${p}v.xy, ${p}v.zw, (${p}g & 1u) == 1u);`,
            unit: (p: string, j: string) => unitPairs(`${p}q`, j),
          }
        : {
            load: (b: string, p: string) =>
              `let ${p}b = (${p}g >> 2u) * 3u; let ${p}v = ${b}[${p}b + ((${p}g >> 1u) & 1u)]; ` +
              `let ${p}q = select(${p}v.xy, ${p}v.zw, (${p}g & 1u) == 1u); let ${p}h = ${b}[${p}b + 2u][${p}g & 3u];`,
            unit: (p: string, j: string) =>
              `(${unitPairs(`${p}q`, j)} | (((vec4<u32>(${p}h) >> (vec4<u32>((${j}) * 4u) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u)) << vec4<u32>(2u)))`,
          };
  return {
    group: (b, g, p) => `let ${p}g = ${g}; ${levels.load(b, p)} ${scale(b, p)}`,
    unit: (p, j) => `((vec4<f32>(${levels.unit(p, j)}) - ${p}z) * ${p}d)`,
  };
}

const READS: Record<BlockMatrixDtype, BlockReads> = {
  ...(Object.fromEntries(GROUP_DTYPES.map((dtype) => [dtype, groupReads(dtype)])) as Record<GroupDtype, BlockReads>),
  q8_0: {
    ...halfScaleGroup((b, p) => `let ${p}a = ${b}[${p}g * 2u]; let ${p}b = ${b}[${p}g * 2u + 1u];`),
    unit: (p, j) =>
      `(${p}d * vec4<f32>((vec4<i32>(bitcast<i32>(select(${p}a, ${p}b, (${j}) >= 4u)[(${j}) & 3u])) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)))`,
  },
  q4_0: {
    ...halfScaleGroup((b, p) => `let ${p}q = ${b}[${p}g];`),
    unit: (p, j) => `((vec4<f32>(${unitNibbles(`${p}q`, j)}) - vec4<f32>(8.0)) * ${p}d)`,
  },
  q4_1: {
    group: (b, g, p) => `let ${p}g = ${g}; let ${p}q = ${b}[${p}g]; let ${p}dm = unpack2x16float(${b}_scales[${p}g]);`,
    unit: (p, j) => `(vec4<f32>(${unitNibbles(`${p}q`, j)}) * ${p}dm.x + vec4<f32>(${p}dm.y))`,
  },
  q5_0: {
    group: (b, g, p) =>
      `let ${p}g = ${g}; let ${p}q = ${b}[${p}g]; let ${p}d = unpack2x16float(${b}_scales[${p}g * 2u]).x; let ${p}h = ${b}_scales[${p}g * 2u + 1u];`,
    unit: (p, j) => `((vec4<f32>(${unitNibbles(`${p}q`, j)} | ${fifthBits(`${p}h`, j)}) - vec4<f32>(16.0)) * ${p}d)`,
  },
  q5_1: {
    group: (b, g, p) =>
      `let ${p}g = ${g}; let ${p}q = ${b}[${p}g]; let ${p}dm = unpack2x16float(${b}_scales[${p}g * 2u]); let ${p}h = ${b}_scales[${p}g * 2u + 1u];`,
    unit: (p, j) => `(vec4<f32>(${unitNibbles(`${p}q`, j)} | ${fifthBits(`${p}h`, j)}) * ${p}dm.x + vec4<f32>(${p}dm.y))`,
  },
  q4_k: {
    ...kScaleMin(5),
    unit: (p, j) => `(${p}d * vec4<f32>(${unitNibbles(`${p}q`, j)}) - vec4<f32>(${p}m))`,
  },
  q5_k: {
    ...withFifthBits(kScaleMin(13)),
    unit: (p, j) => `(${p}d * vec4<f32>(${unitNibbles(`${p}q`, j)} | ${fifthBits(`${p}h`, j)}) - vec4<f32>(${p}m))`,
  },
  q6_k: {
    ...superBlockWords(5, (b, g, p, s0, w) =>
      `let ${p}g = ${g}; let ${p}lo = ${b}[(${p}g >> 1u) * 3u + (${p}g & 1u)]; let ${p}hv = ${b}[(${p}g >> 1u) * 3u + 2u]; ` +
      `let ${p}hi = select(${p}hv.xy, ${p}hv.zw, (${p}g & 1u) == 1u); ` +
      `let ${p}dd = bitcast<f32>(${s0}); let ${p}sw = (${w}) >> ((${p}g & 1u) * 16u); ` +
      `let ${p}d0 = ${p}dd * f32(bitcast<i32>(${p}sw << 24u) >> 24u); let ${p}d1 = ${p}dd * f32(bitcast<i32>(${p}sw << 16u) >> 24u);`,
    ),
    unit: (p, j) =>
      `(select(${p}d0, ${p}d1, (${j}) >= 4u) * (vec4<f32>(${unitNibbles(`${p}lo`, j)} | ` +
      `(((vec4<u32>(${p}hi[(${j}) >> 2u]) >> (vec4<u32>(((${j}) & 3u) * 8u) + vec4<u32>(0u, 2u, 4u, 6u))) & vec4<u32>(3u)) << vec4<u32>(4u))) - vec4<f32>(32.0)))`,
  },
};

/**
 * Group reads of a format with half g of the scales for group g, given its quant loads; by
 * super-block, the 8 halves of 8 groups are one vec4<u32>.
 */
function halfScaleGroup(quants: (b: string, p: string) => string): Pick<BlockReads, 'group' | 'superBlock'> {
  const group = (b: string, g: string, p: string, d: string) => `let ${p}g = ${g}; ${quants(b, p)} let ${p}d = ${d};`;
  return {
    group: (b, g, p) => group(b, g, p, halfAt(`${b}_scales`, `${p}g`)),
    superBlock: {
      vectorScales: true,
      load: (b, sb, p) => `let ${p}sv = ${b}_scales[${sb}];`,
      group: (b, g, p, i) => group(b, g, p, `unpack2x16float(${p}sv[(${i}) >> 1u])[(${i}) & 1u]`),
    },
  };
}

/**
 * K-quant reads whose super-block of 8 groups starts with 5 scale words: word 0 (d, or d and
 * dmin), then word 1 + j holding groups 2j and 2j + 1 (16 bits each). `group` builds a group's
 * reads given word 0 and its group's word as u32 expressions (which may use the group index
 * `<p>g` it defines first); by super-block those 5 words are loaded once for its 8 groups.
 */
function superBlockWords(
  perSb: number,
  group: (b: string, g: string, p: string, s0: string, w: string) => string,
): Pick<BlockReads, 'group' | 'superBlock'> {
  const word = (b: string, p: string, j: number) => `${b}_scales[${p}s * ${perSb}u + ${j}u]`;
  return {
    group: (b, g, p) =>
      group(b, g, p, `${b}_scales[(${p}g >> 3u) * ${perSb}u]`, `${b}_scales[(${p}g >> 3u) * ${perSb}u + 1u + ((${p}g & 7u) >> 1u)]`),
    superBlock: {
      vectorScales: false,
      load: (b, sb, p) =>
        `let ${p}s = ${sb}; let ${p}s0 = ${word(b, p, 0)}; ` +
        `let ${p}sj = vec4<u32>(${word(b, p, 1)}, ${word(b, p, 2)}, ${word(b, p, 3)}, ${word(b, p, 4)});`,
      group: (b, g, p, i) => group(b, g, p, `${p}s0`, `${p}sj[(${i}) >> 1u]`),
    },
  };
}

/** Q5_K: Q4_K's reads and the group's fifth bits (a word per group after the 5 scale words). */
function withFifthBits(reads: Pick<BlockReads, 'group' | 'superBlock'>): Pick<BlockReads, 'group' | 'superBlock'> {
  const bits = (b: string, p: string) => ` let ${p}h = ${b}_scales[${p}sb * 13u + 5u + (${p}g & 7u)];`;
  const sb = reads.superBlock!;
  return {
    group: (b, g, p) => reads.group(b, g, p) + bits(b, p),
    superBlock: { ...sb, group: (b, g, p, i) => sb.group(b, g, p, i) + bits(b, p) },
  };
}

/** Q4_K / Q5_K: the group's nibbles, and d * scale and dmin * min. */
function kScaleMin(perSb: number): Pick<BlockReads, 'group' | 'superBlock'> {
  return superBlockWords(
    perSb,
    (b, g, p, s0, w) =>
      `let ${p}g = ${g}; let ${p}q = ${b}[${p}g]; let ${p}sb = ${p}g >> 3u; ` +
      `let ${p}dm = unpack2x16float(${s0}); let ${p}w = (${w}) >> ((${p}g & 1u) * 16u); ` +
      `let ${p}d = ${p}dm.x * f32(${p}w & 255u); let ${p}m = ${p}dm.y * f32((${p}w >> 8u) & 255u);`,
  );
}

/**
 * The format of a block type; with `lanes`, over groups in the lanes layout (interleaveBlockLanes):
 * its loaders take the row-major index as before and find the group's slot through
 * `params.row_stride` (elements per row), and it has no super-block reads (a row's groups are no
 * longer consecutive).
 */
function blockFormat(dtype: BlockMatrixDtype, lanes = 0): StorageFormat {
  const reads: BlockReads = lanes > 0 ? { group: READS[dtype].group, unit: READS[dtype].unit } : READS[dtype];
  const { elements, bytes } = repackedBlockBytes(dtype);
  const slot = (g: string) => (lanes > 0 ? laneIndex(g, '(params.row_stride / 32u)', lanes) : g);
  return {
    dtype,
    tag: lanes > 0 ? `${dtype}l${lanes}` : dtype,
    blockElements: elements,
    blockBytes: bytes,
    features: [],
    enable: [],
    blocks: reads,
    ...(lanes > 0 ? { lanes } : {}),
    // The loaders read a whole group's words as the block path does: GPUs cache the neighbours.
    elementType: () => 'vec4<u32>',
    load: (unit, b) =>
      unit === 'vec4'
        ? `let j = i & 7u;\n  ${reads.group(b, slot('i >> 3u'), 'p_')}\n  return ${reads.unit('p_', 'j')};`
        : `let j = (i >> 2u) & 7u;\n  ${reads.group(b, slot('i >> 5u'), 'p_')}\n  return ${reads.unit('p_', 'j')}[i & 3u];`,
  };
}

const LANE_FORMATS = new Map<string, StorageFormat>();

/** The format of a LaneBlockDtype over groups in the lanes layout of `lanes` rows. */
export function laneBlockFormat(dtype: LaneBlockDtype, lanes: number): StorageFormat {
  const key = `${dtype}/${lanes}`;
  let format = LANE_FORMATS.get(key);
  if (!format) {
    format = blockFormat(dtype, lanes);
    LANE_FORMATS.set(key, format);
  }
  return format;
}

/** The storage format of each block type, by name. */
export const BLOCK_STORAGE: Readonly<Record<BlockMatrixDtype, StorageFormat>> = {
  ...(Object.fromEntries(GROUP_DTYPES.map((dtype) => [dtype, blockFormat(dtype)])) as Record<GroupDtype, StorageFormat>),
  q8_0: blockFormat('q8_0'),
  q4_0: blockFormat('q4_0'),
  q4_1: blockFormat('q4_1'),
  q5_0: blockFormat('q5_0'),
  q5_1: blockFormat('q5_1'),
  q4_k: blockFormat('q4_k'),
  q5_k: blockFormat('q5_k'),
  q6_k: blockFormat('q6_k'),
};
