import type { KernelSource } from '@llm/kernels';
import { DECODE_BLOCK_WALK, DECODE_PARAMS_STRUCT } from './decode-params.wgsl.js';
import { unroll } from './wgsl-unroll.js';

/**
 * Streaming split-K decode on subgroups (the subgroups variant of split-k-decode.wgsl.ts). A
 * segment of ROW_LANES invocations (within one subgroup) takes one KV head; a workgroup holds the
 * segments of KV_PER_WG adjacent KV heads, and each segment streams its head's contiguous
 * blockSize x headDim tile of every block. In a segment, lane l holds vec4 columns l, l + L,
 * ... of the head block's query rows and output accumulators, so every K and V row is read as
 * consecutive vec4s by consecutive invocations, once for all heads of the block. Per group of
 * GROUP_ROWS keys:
 *
 * 1. each K row's partial dot products are summed over the lanes by a reduce-scatter butterfly
 *    of subgroup shuffles, which leaves head h's score in lane h * (L / HEAD_BLOCK);
 * 2. that lane updates the head's running max and sum (online softmax) once per group;
 * 3. every lane rescales its accumulators and adds each V row weighted by the numerators it
 *    takes from the owning lanes by broadcast.
 *
 * Nothing goes through workgroup memory and the only barrier is the one that shares the chunk's
 * bounds, so scores of any number of keys cost no memory: chunks are sized for parallelism only.
 */
export interface SubgroupDecodeKernel {
  source: KernelSource;
  /** KV heads side by side in one workgroup (one segment of lanes each). */
  kvHeadsPerWorkgroup: number;
  workgroupBytes: number;
}

// Lanes per K row: a power of two dividing headDim / 4, at most the subgroup's minimum size and
// at most lavapipe's SIMD width.
const MAX_ROW_LANES = 8;
// Query (and accumulator) vec4s per lane: heads of the block x the lane's columns.
const MAX_REGISTERS = 16;
// Keys per online-softmax update (one max, one rescale per group rather than per key), fewer for
// wide rows: the group is unrolled, and lavapipe's compile time grows steeply with its size.
const MAX_GROUP_ROWS = 8;
const MAX_GROUP_VEC4S = 8;

export function subgroupDecodeKernel(
  headDim: number,
  group: number,
  numKvHeads: number,
  subgroupMinSize: number,
  maxInvocations: number,
): SubgroupDecodeKernel {
  const d4 = headDim / 4;
  let lanes = 1;
  while (lanes * 2 <= Math.min(MAX_ROW_LANES, subgroupMinSize) && d4 % (lanes * 2) === 0) lanes *= 2;
  const perLane = d4 / lanes;
  // At most one head per lane after the reduce-scatter, and bounded registers.
  const headBlock = Math.min(
    lanes,
    2 ** Math.ceil(Math.log2(group)),
    Math.max(1, 2 ** Math.floor(Math.log2(MAX_REGISTERS / perLane))),
  );
  const kvPerWorkgroup = Math.max(1, Math.min(numKvHeads, Math.floor(maxInvocations / lanes)));
  const groupRows = Math.max(
    2,
    Math.min(MAX_GROUP_ROWS, 2 ** Math.floor(Math.log2(MAX_GROUP_VEC4S / perLane))),
  );
  return {
    source: {
      name: `attention-decode-d${headDim}-h${headBlock}-kv${kvPerWorkgroup}-sg${lanes}`,
      code: subgroupDecodeWgsl(d4, lanes, perLane, headBlock, groupRows, kvPerWorkgroup),
    },
    kvHeadsPerWorkgroup: kvPerWorkgroup,
    // The chunk bounds only.
    workgroupBytes: 16,
  };
}

/**
 * Sums `values` over groups of `lanes` lanes with subgroup shuffles, halving the values each step
 * while more than one is left (a reduce-scatter: values - 1 shuffles instead of values x
 * log2(lanes)). With values <= lanes one total is left per lane: value h's in lane
 * h * (lanes / values) (and in the lanes that differ from it only in the low bits).
 */
function reduceScatter(values: string[], lanes: number, indent: string): { code: string; total: string } {
  let names = values;
  const lines: string[] = [];
  for (let o = lanes / 2; o >= 1; o /= 2) {
    if (names.length > 1) {
      const half = names.length / 2;
      const bit = `((lane & ${o}u) != 0u)`;
      const next = names.slice(0, half).map((_, i) => `${values[0]}_${o}_${i}`);
      next.forEach((n, i) => {
        const lo = names[i]!;
        const hi = names[i + half]!;
        lines.push(
          `let ${n} = select(${lo}, ${hi}, ${bit}) + subgroupShuffleXor(select(${hi}, ${lo}, ${bit}), ${o}u);`,
        );
      });
      names = next;
    } else {
      const n = `${values[0]}_${o}_0`;
      lines.push(`let ${n} = ${names[0]!} + subgroupShuffleXor(${names[0]!}, ${o}u);`);
      names = [n];
    }
  }
  return { code: lines.map((l) => indent + l).join('\n'), total: names[0]! };
}

function subgroupDecodeWgsl(
  d4: number,
  lanes: number,
  perLane: number,
  hb: number,
  groupRows: number,
  kvPerWorkgroup: number,
): string {
  const owner = (h: number) => h * (lanes / hb);
  const col = (v: number) => `lane + ${v * lanes}u`;
  const scoreRow = (r: number) => {
    const parts = Array.from({ length: hb }, (_, h) => `part${r}h${h}`);
    const reduced = reduceScatter(parts, lanes, '        ');
    return `      var s${r} = MASKED;
      if (j0 + ${r}u < blockEnd) {
${unroll(perLane, (v) => `let k${v} = kCache[row0 + ${r}u * D4 + ${v * lanes}u];`, '        ')}
${unroll(hb, (h) => `let part${r}h${h} = ${Array.from({ length: perLane }, (_, v) => `dot(q${h}_${v}, k${v})`).join(' + ')};`, '        ')}
${reduced.code}
        s${r} = ${reduced.total};
      }`;
  };
  const valueRow = (r: number) => `      if (j0 + ${r}u < blockEnd) {
${unroll(hb, (h) => `let p${r}h${h} = vec4<f32>(subgroupShuffle(p${r}, segment + ${owner(h)}u));`, '        ')}
${unroll(perLane, (v) => `let v${v} = vCache[row0 + ${r}u * D4 + ${v * lanes}u];`, '        ')}
${unroll(
  hb * perLane,
  (i) => {
    const h = Math.floor(i / perLane);
    const v = i % perLane;
    return `acc${h}_${v} = fma(p${r}h${h}, v${v}, acc${h}_${v});`;
  },
  '        ',
)}
      }`;
  const rows = Array.from({ length: groupRows }, (_, r) => r);
  return /* wgsl */ `enable subgroups;
// Streaming split-K decode on one subgroup (see subgroup-decode.wgsl.ts).
${DECODE_PARAMS_STRUCT}

const D4 = ${d4}u;
const ROW_LANES = ${lanes}u;
const KV_PER_WG = ${kvPerWorkgroup}u;
const HEAD_BLOCK = ${hb}u;
const GROUP_ROWS = ${groupRows}u;
// Masked scores: exp(MASKED - m) is exactly 0 for any finite running max m.
const MASKED = -3.0e38;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> blockTables: array<u32>;
@group(0) @binding(5) var<storage, read> queryStarts: array<u32>;
@group(0) @binding(6) var<storage, read> contextLens: array<u32>;
@group(0) @binding(7) var<storage, read> tokenSeqIds: array<u32>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;
// [numTokens, numHeads, numSplits, D4] unnormalised sums and [.., numSplits] (max, sum).
@group(0) @binding(9) var<storage, read_write> partialAcc: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> partialStats: array<vec2<f32>>;

// sequence, chunk start, chunk end (0 when the chunk is past this token's context).
var<workgroup> chunkInfo: vec3<u32>;

${DECODE_BLOCK_WALK}

@compute @workgroup_size(ROW_LANES * KV_PER_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sgLane: u32) {
  let token = wid.x;
  let split = wid.z;
  if (lid == 0u) {
    let seq = tokenSeqIds[token];
    // Keys 0..pos for the token at pos = ctx - (tokens of the sequence from this one onwards).
    let kvLen = contextLens[seq] - (queryStarts[seq + 1u] - token) + 1u;
    let start = split * params.chunkLen;
    chunkInfo = vec3<u32>(seq, start, select(0u, min(start + params.chunkLen, kvLen), start < kvLen));
  }
  let info = workgroupUniformLoad(&chunkInfo);
  let chunkStart = info.y;
  let chunkEnd = info.z;
  if (chunkEnd == 0u) {
    return;
  }
  let group = params.numHeads / params.numKvHeads;
  // KV_PER_WG KV heads side by side, one segment of ROW_LANES lanes each; a segment streams its
  // head's contiguous blockSize x headDim tile of each block, consecutive keys one row apart.
  // Segments past the last KV head shadow the last one and store nothing.
  let kvHeadLive = (wid.y / params.headChunks) * KV_PER_WG + lid / ROW_LANES;
  let kvHead = min(kvHeadLive, params.numKvHeads - 1u);
  let firstHead = (wid.y % params.headChunks) * params.headsPerWorkgroup;
  let heads = min(params.headsPerWorkgroup, group - firstHead);
  let tableBase = info.x * params.maxBlocksPerSeq;
  let qRow = token * params.numHeads + kvHead * group + firstHead;
  // A segment lies within one subgroup; \`segment\` is its first lane there.
  let lane = sgLane % ROW_LANES;
  let segment = sgLane - lane;

  for (var hb = 0u; hb < heads; hb += HEAD_BLOCK) {
    // This lane's columns of each head's query row; heads past the group's end are zero.
${unroll(
  hb * perLane,
  (i) => {
    const h = Math.floor(i / perLane);
    const v = i % perLane;
    return `let q${h}_${v} = select(vec4<f32>(0.0), q[(qRow + min(hb + ${h}u, heads - 1u)) * D4 + ${col(v)}] * params.scale, hb + ${h}u < heads);`;
  },
  '    ',
)}
${unroll(hb * perLane, (i) => `var acc${Math.floor(i / perLane)}_${i % perLane} = vec4<f32>(0.0);`, '    ')}
    // Running max and sum of the head whose scores this lane holds.
    var m = MASKED;
    var l = 0.0;
    for (var blockStart = chunkStart; blockStart < chunkEnd;) {
      let blockEnd = blockRun(tableBase, blockStart, chunkEnd);
      for (var j0 = blockStart; j0 < blockEnd; j0 += GROUP_ROWS) {
      let row0 = kvRow(j0, kvHead) + lane;
${rows.map(scoreRow).join('\n')}
      let mNew = max(m, max(${rows.map((r) => `s${r}`).reduce((a, b) => `max(${a}, ${b})`)}, MASKED));
      let alpha = exp(m - mNew);
${unroll(groupRows, (r) => `let p${r} = exp(s${r} - mNew);`, '      ')}
      l = l * alpha + ${rows.map((r) => `p${r}`).join(' + ')};
      m = mNew;
${unroll(hb, (h) => `let alpha${h} = vec4<f32>(subgroupShuffle(alpha, segment + ${owner(h)}u));`, '      ')}
${unroll(hb * perLane, (i) => `acc${Math.floor(i / perLane)}_${i % perLane} *= alpha${Math.floor(i / perLane)};`, '      ')}
${rows.map(valueRow).join('\n')}
      }
      blockStart = blockEnd;
    }
${unroll(hb, (h) => `let stats${h} = vec2<f32>(subgroupShuffle(m, segment + ${owner(h)}u), subgroupShuffle(l, segment + ${owner(h)}u));`, '    ')}
${unroll(
  hb,
  (h) => `    if (hb + ${h}u < heads) {
      let at = qRow + hb + ${h}u;
      if (params.direct == 1u) {
${unroll(perLane, (v) => `out[at * D4 + ${col(v)}] = acc${h}_${v} / stats${h}.y;`, '        ')}
      } else {
        let slot = at * params.numSplits + split;
${unroll(perLane, (v) => `partialAcc[slot * D4 + ${col(v)}] = acc${h}_${v};`, '        ')}
        if (lane == 0u) {
          partialStats[slot] = stats${h};
        }
      }
    }`,
  '',
)}
  }
}
`;
}
