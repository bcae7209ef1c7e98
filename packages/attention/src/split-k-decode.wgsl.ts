import { KernelShapeError, declaredKernel } from '@llm/kernels';
import type { StorageFormat } from '@llm/kernels';
import { DECODE_BLOCK_WALK, MERGE_DECLARATION, decodeDeclaration } from './decode-declaration.js';
import type { DecodeKernel } from './decode-declaration.js';
import { subgroupDecodeKernel } from './subgroup-decode.wgsl.js';
import { unroll } from './wgsl-unroll.js';

/**
 * Paged decode with split-K (flash-decoding). A workgroup takes one query token, one KV head and
 * a chunk of that token's keys, and serves the query heads of the KV head's group from one read
 * of each K and V row, with invocations across headDim (consecutive invocations read
 * consecutive vec4s of a row). Two variants:
 *
 * - subgroups (subgroup-decode.wgsl.ts): one subgroup streams the chunk with an online softmax
 *   in registers; nothing goes through workgroup memory.
 * - portable (this file): segments of invocations score K rows and sum their partial dot
 *   products through workgroup memory; the chunk's scores stay in workgroup memory for the
 *   softmax; then invocations across headDim read each V row once and accumulate a block of
 *   heads in registers.
 *
 * A token whose keys fit one split gets its normalised output from the decode kernel; a token
 * with several splits gets unnormalised partial rows and (max, sum) per split, which a second
 * kernel merges by log-sum-exp. Which path a token takes depends on its own context length and
 * the chunk length only, never on the rest of the batch.
 * Both are specialised on headDim and the head blocks (from the group size); head counts, block
 * size, chunk length and the batch are runtime parameters.
 */
export interface DecodeKernels {
  decode: DecodeKernel;
  /**
   * The decode kernel also writing its single-split tokens' output quantized to int8 (the
   * subgroup kernel, where a head's lanes hold whole 32-value groups), else undefined.
   */
  decodeInt8: DecodeKernel | undefined;
  merge: typeof MERGE_KERNEL;
  /** Most query heads one workgroup takes; larger groups are split across workgroups. */
  maxHeads: number;
  /** KV heads one workgroup takes (workgroups along y: KV head groups x head chunks). */
  kvHeadsPerWorkgroup: number;
  /** Longest chunk (keys per split) for a workgroup of `heads` query heads. */
  maxChunk: (heads: number) => number;
  usesSubgroups: boolean;
}

export interface DecodeKernelShape {
  headDim: number;
  /** Query heads per KV head. */
  group: number;
  numKvHeads: number;
  workgroupStorageBytes: number;
  maxInvocations: number;
  /**
   * Smallest subgroup size the adapter may use (4 or more selects the subgroup kernel), or 0
   * for the portable kernel.
   */
  subgroupMinSize: number;
  /** Subgroup kernel: KV heads per workgroup instead of one subgroup's worth. */
  kvHeadsPerWorkgroup?: number | undefined;
  pool: StorageFormat;
}

// Portable kernel. Lanes per K row: a power of two dividing headDim / 4, at most this.
const MAX_ROW_LANES = 8;
// Heads one invocation accumulates in registers in P V.
const MAX_PV_HEADS = 8;
// Query vec4s one invocation holds in registers while scoring (heads x its slice of the row).
const MAX_QUERY_REGISTERS = 16;
// P V needs headDim / 4 invocations; small head dims still get this many.
const MIN_WORKGROUP = 16;
const MAX_HEADS = 64;
// Keys per split for the streaming (subgroup) kernel, which keeps no per-key state.
const MAX_STREAMED_CHUNK = 1 << 20;
const MERGE_WORKGROUP = 64;
const CHUNK_INFO_BYTES = 16;

export function decodeKernels(shape: DecodeKernelShape): DecodeKernels {
  const { headDim, group } = shape;
  const d4 = headDim / 4;
  if (shape.subgroupMinSize >= 4) {
    const kernel = subgroupDecodeKernel(
      headDim,
      group,
      shape.numKvHeads,
      shape.subgroupMinSize,
      shape.maxInvocations,
      shape.pool,
      shape.kvHeadsPerWorkgroup,
    );
    return {
      decode: kernel.source,
      decodeInt8: kernel.int8Source,
      kvHeadsPerWorkgroup: kernel.kvHeadsPerWorkgroup,
      merge: MERGE_KERNEL,
      maxHeads: MAX_HEADS,
      maxChunk: () => MAX_STREAMED_CHUNK,
      usesSubgroups: true,
    };
  }
  // Key groups side by side in P V when headDim / 4 is smaller than the workgroup.
  const keyGroups = Math.max(1, Math.floor(MIN_WORKGROUP / d4));
  const workgroup = Math.max(d4, MIN_WORKGROUP);
  let lanes = 1;
  while (lanes * 2 <= MAX_ROW_LANES && d4 % (lanes * 2) === 0) lanes *= 2;
  const perLane = d4 / lanes;
  const pvHeads = Math.min(MAX_PV_HEADS, 2 ** Math.ceil(Math.log2(group)));
  const scoreHeads = Math.min(pvHeads, Math.max(1, pow2Floor(MAX_QUERY_REGISTERS / perLane)));
  const reduceFloats = workgroup * scoreHeads;
  const pvReduceVec4s = keyGroups > 1 ? keyGroups * pvHeads * d4 : 0;
  const fixedBytes = 4 * (reduceFloats + workgroup + 2 * MAX_HEADS) + 16 * pvReduceVec4s + CHUNK_INFO_BYTES;
  const scoreFloats = Math.floor((shape.workgroupStorageBytes - fixedBytes) / 4);
  const rowsPerPass = workgroup / lanes;
  const maxHeads = Math.min(MAX_HEADS, Math.floor(scoreFloats / rowsPerPass));
  if (maxHeads < 1) {
    throw new KernelShapeError(
      'attention',
      `headDim ${headDim} does not fit the decode kernel in ${shape.workgroupStorageBytes} bytes of workgroup memory`,
    );
  }
  const c: DecodeConsts = {
    d4,
    workgroup,
    lanes,
    perLane,
    pvHeads,
    scoreHeads,
    keyGroups,
    scoreFloats,
    reduceFloats,
    pvReduceVec4s,
  };
  return {
    decode: declaredKernel(
      `attention-decode-d${headDim}-h${pvHeads}-${shape.pool.tag}`,
      decodeDeclaration(shape.pool),
      decodeWgsl(c),
    ),
    decodeInt8: undefined,
    kvHeadsPerWorkgroup: 1,
    merge: MERGE_KERNEL,
    maxHeads,
    // The chunk's scores of every head fit workgroup memory; whole passes of the segments.
    maxChunk: (heads) => Math.floor(scoreFloats / heads / rowsPerPass) * rowsPerPass,
    usesSubgroups: false,
  };
}

function pow2Floor(x: number): number {
  return x < 1 ? 0 : 2 ** Math.floor(Math.log2(x));
}

interface DecodeConsts {
  d4: number;
  workgroup: number;
  lanes: number;
  perLane: number;
  pvHeads: number;
  scoreHeads: number;
  keyGroups: number;
  scoreFloats: number;
  reduceFloats: number;
  pvReduceVec4s: number;
}

function decodeWgsl(c: DecodeConsts): string {
  const sh = c.scoreHeads;
  const ph = c.pvHeads;
  const rowReduce = `
${unroll(sh, (h) => `reduceBuf[lid * SCORE_HEADS + ${h}u] = part${h};`, '      ')}
      workgroupBarrier();
      for (var i = lid; i < ROWS_PER_PASS * SCORE_HEADS; i += WG) {
        let r = i / SCORE_HEADS;
        var sum = 0.0;
        for (var l = 0u; l < ROW_LANES; l++) {
          sum += reduceBuf[(r * ROW_LANES + l) * SCORE_HEADS + i % SCORE_HEADS];
        }
        if (base + r < blockEnd) {
          storeScore(hb + i % SCORE_HEADS, heads, base + r - chunkStart, sum);
        }
      }
      workgroupBarrier();`;
  const uniformKeys = c.keyGroups === 1;
  const pvKey = (
    j: string,
    p: (h: number) => string,
    indent: string,
  ) => `${indent}let v = vCacheAt(kvRow(${j}, kvHead) + col);
${unroll(ph, (h) => `acc${h} = fma(vec4<f32>(${p(h)}), v, acc${h});`, indent)}`;
  const sharedNumerator = (h: number) => `scores[min(hb + ${h}u, heads - 1u) * params.chunkLen + sb]`;
  const pvLoop = `    for (var blockStart = chunkStart; blockStart < chunkEnd;) {
      let blockEnd = blockRun(tableBase, blockStart, chunkEnd);
      for (var j = blockStart${uniformKeys ? '' : ' + keyGroup'}; j < blockEnd; j += ${uniformKeys ? '1u' : 'KEY_GROUPS'}) {
        let sb = j - chunkStart;
${pvKey('j', sharedNumerator, '        ')}
      }
      blockStart = blockEnd;
    }`;
  const storeRow = (sum: string, h: string, colExpr: string, indent: string) => `${indent}if (${h} < heads) {
${indent}  let at = token * params.numHeads + kvHead * group + firstHead + ${h};
${indent}  let st = stats[${h}];
${indent}  if (direct) {
${indent}    out[at * D4 + ${colExpr}] = ${sum} / st.y;
${indent}  } else {
${indent}    let slot = (at - params.tokenStart * params.numHeads) * params.numSplits + split;
${indent}    partialAcc[slot * D4 + ${colExpr}] = ${sum};
${indent}    if (${colExpr} == 0u) {
${indent}      partialStats[slot] = st;
${indent}    }
${indent}  }
${indent}}`;
  const pvStore = uniformKeys
    ? unroll(ph, (h) => storeRow(`acc${h}`, `hb + ${h}u`, 'col', '    ').trimStart(), '    ')
    : `${unroll(ph, (h) => `pvReduce[(keyGroup * PV_HEADS + ${h}u) * D4 + col] = acc${h};`, '    ')}
    workgroupBarrier();
    for (var i = lid; i < PV_HEADS * D4; i += WG) {
      var sum = vec4<f32>(0.0);
      for (var g = 0u; g < KEY_GROUPS; g++) {
        sum += pvReduce[g * PV_HEADS * D4 + i];
      }
${storeRow('sum', 'hb + i / D4', 'i % D4', '      ')}
    }
    workgroupBarrier();`;

  return /* wgsl */ `
// Split-K paged decode (see split-k-decode.wgsl.ts).

const D4 = ${c.d4}u;
const WG = ${c.workgroup}u;
const ROW_LANES = ${c.lanes}u;
const ROWS_PER_PASS = ${c.workgroup / c.lanes}u;
// Heads scored per pass over the chunk's K rows, and accumulated per pass over its V rows.
const SCORE_HEADS = ${sh}u;
const PV_HEADS = ${ph}u;
// P V: invocation (column lid % D4, key group lid / D4).
const KEY_GROUPS = ${c.keyGroups}u;

// Scores, then softmax numerators, [heads, chunkLen].
var<workgroup> scores: array<f32, ${c.scoreFloats}>;
// Partial dot products of a pass, [WG, SCORE_HEADS].
var<workgroup> reduceBuf: array<f32, ${c.reduceFloats}>;
${c.pvReduceVec4s > 0 ? `// Key groups' P V sums, [KEY_GROUPS, PV_HEADS, D4].\nvar<workgroup> pvReduce: array<vec4<f32>, ${c.pvReduceVec4s}>;\n` : ''}var<workgroup> partials: array<f32, WG>;
// (max, sum of exponentials) of the chunk per head.
var<workgroup> stats: array<vec2<f32>, ${MAX_HEADS}>;
// sequence, chunk start, chunk end (0 when the chunk is past this token's context), and 1 when
// the token's keys fit one chunk (its output is written directly).
var<workgroup> chunkInfo: vec4<u32>;

${DECODE_BLOCK_WALK}

fn storeScore(h: u32, heads: u32, at: u32, s: f32) {
  if (h < heads) {
    scores[h * params.chunkLen + at] = s;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let token = params.tokenStart + wid.x;
  let split = wid.z;
  if (lid == 0u) {
    let seq = tokenSeqIds[token];
    // Keys 0..pos for the token at pos = ctx - (tokens of the sequence from this one onwards).
    let kvLen = contextLens[seq] - (queryStarts[seq + 1u] - token) + 1u;
    let start = split * params.chunkLen;
    let end = select(0u, min(start + params.chunkLen, kvLen), start < kvLen);
    chunkInfo = vec4<u32>(seq, start, end, select(0u, 1u, kvLen <= params.chunkLen));
  }
  let info = workgroupUniformLoad(&chunkInfo);
  let chunkStart = info.y;
  let chunkEnd = info.z;
  let direct = info.w == 1u;
  if (chunkEnd == 0u) {
    return;
  }
  let group = params.numHeads / params.numKvHeads;
  let kvHead = wid.y / params.headChunks;
  let firstHead = (wid.y % params.headChunks) * params.headsPerWorkgroup;
  let heads = min(params.headsPerWorkgroup, group - firstHead);
  let tableBase = info.x * params.maxBlocksPerSeq;
  let qRow = token * params.numHeads + kvHead * group + firstHead;

  // ---- scores, SCORE_HEADS heads per pass over the chunk's K rows ----
  let lane = lid % ROW_LANES;
  let segment = lid / ROW_LANES;
  for (var hb = 0u; hb < heads; hb += SCORE_HEADS) {
    // This lane's slice of each head's query row; heads past the group's end are zero.
${unroll(
  sh * c.perLane,
  (i) => {
    const h = Math.floor(i / c.perLane);
    const v = i % c.perLane;
    return `let q${h}_${v} = select(vec4<f32>(0.0), q[(qRow + min(hb + ${h}u, heads - 1u)) * D4 + lane + ${v * c.lanes}u] * params.scale, hb + ${h}u < heads);`;
  },
  '    ',
)}
    for (var blockStart = chunkStart; blockStart < chunkEnd;) {
    let blockEnd = blockRun(tableBase, blockStart, chunkEnd);
    for (var base = blockStart; base < blockEnd; base += ROWS_PER_PASS) {
      let j = base + segment;
      let live = j < blockEnd;
      let row = select(0u, kvRow(j, kvHead), live) + lane;
${unroll(c.perLane, (v) => `let k${v} = select(vec4<f32>(0.0), kCacheAt(row + ${v * c.lanes}u), live);`, '      ')}
${unroll(sh, (h) => `let part${h} = ${Array.from({ length: c.perLane }, (_, v) => `dot(q${h}_${v}, k${v})`).join(' + ')};`, '      ')}${rowReduce}
    }
    blockStart = blockEnd;
    }
  }
  workgroupBarrier();

  // ---- softmax numerators and (max, sum) of the chunk, per head ----
  let n = chunkEnd - chunkStart;
  let threadsPerHead = max(1u, WG / heads);
  let headsPerRound = WG / threadsPerHead;
  let sub = lid % threadsPerHead;
  for (var h0 = 0u; h0 < heads; h0 += headsPerRound) {
    let h = h0 + lid / threadsPerHead;
    let rowOk = h < heads && lid / threadsPerHead < headsPerRound;
    var localMax = -3.0e38;
    if (rowOk) {
      for (var j = sub; j < n; j += threadsPerHead) {
        localMax = max(localMax, scores[h * params.chunkLen + j]);
      }
    }
    partials[lid] = localMax;
    workgroupBarrier();
    var headMax = -3.0e38;
    if (rowOk) {
      for (var i = 0u; i < threadsPerHead; i++) {
        headMax = max(headMax, partials[(lid / threadsPerHead) * threadsPerHead + i]);
      }
    }
    workgroupBarrier();
    var localSum = 0.0;
    if (rowOk) {
      for (var j = sub; j < n; j += threadsPerHead) {
        let p = exp(scores[h * params.chunkLen + j] - headMax);
        scores[h * params.chunkLen + j] = p;
        localSum += p;
      }
    }
    partials[lid] = localSum;
    workgroupBarrier();
    if (rowOk && sub == 0u) {
      var sum = 0.0;
      for (var i = 0u; i < threadsPerHead; i++) {
        sum += partials[(lid / threadsPerHead) * threadsPerHead + i];
      }
      stats[h] = vec2<f32>(headMax, sum);
    }
    workgroupBarrier();
  }

  // ---- P V, PV_HEADS heads per pass over the chunk's V rows ----
  let col = lid % D4;
  let keyGroup = lid / D4;
  for (var hb = 0u; hb < heads; hb += PV_HEADS) {
${unroll(ph, (h) => `var acc${h} = vec4<f32>(0.0);`, '    ')}
${pvLoop}
${pvStore}
  }
}
`;
}

const MERGE_WGSL = /* wgsl */ `
// Log-sum-exp merge of split-K decode partials (see split-k-decode.wgsl.ts).

@compute @workgroup_size(${MERGE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Invocation i: vec4 column i % D4 of (token, head) i / D4; consecutive invocations read
  // consecutive vec4s of a split's partial row.
  let i = gid.y * nwg.x * ${MERGE_WORKGROUP}u + gid.x;
  let d4 = params.headDim4;
  if (i >= params.numTokens * params.numHeads * d4) {
    return;
  }
  // (token, head) of the dispatch's tokens, counted from tokenStart as the partials are.
  let th = i / d4;
  let col = i % d4;
  let token = params.tokenStart + th / params.numHeads;
  let seq = tokenSeqIds[token];
  let kvLen = contextLens[seq] - (queryStarts[seq + 1u] - token) + 1u;
  let splits = (kvLen + params.chunkLen - 1u) / params.chunkLen;
  // A single split was written to out by the decode kernel.
  if (splits == 1u) {
    return;
  }
  let base = th * params.numSplits;
  var m = -3.0e38;
  for (var s = 0u; s < splits; s++) {
    m = max(m, partialStats[base + s].x);
  }
  var num = vec4<f32>(0.0);
  var den = 0.0;
  for (var s = 0u; s < splits; s++) {
    let st = partialStats[base + s];
    let w = exp(st.x - m);
    num = fma(vec4<f32>(w), partialAcc[(base + s) * d4 + col], num);
    den = fma(w, st.y, den);
  }
  out[(params.tokenStart * params.numHeads + th) * d4 + col] = num / den;
}
`;

export const DECODE_MERGE_WORKGROUP = MERGE_WORKGROUP;

const MERGE_KERNEL = declaredKernel('attention-decode-merge', MERGE_DECLARATION, MERGE_WGSL);
