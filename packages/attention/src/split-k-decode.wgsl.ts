import type { KernelSource } from '@llm/kernels';
import { AttentionShapeError } from './errors.js';
import { checkHeads } from './flash-prefill.wgsl.js';

/** What a decode pipeline is specialised on. */
export interface DecodeShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  workgroupStorageBytes: number;
  /**
   * Smallest subgroup size the adapter may use, or 0 to reduce through workgroup memory (the
   * portable path). Subgroup reductions need segments of lanes that never straddle a subgroup.
   */
  subgroupMinSize: number;
}

export interface DecodePlan {
  /** Writes the normalised output directly: for batches whose every context fits one split. */
  single: KernelSource;
  /** Writes per-split partial sums and (max, sum) statistics for {@link DecodePlan.merge}. */
  partial: KernelSource;
  /** Log-sum-exp merge of the splits of every (token, head). */
  merge: KernelSource;
  mergeInvocations: number;
  headsPerWorkgroup: number;
  headChunks: number;
  /** Most keys one workgroup (one split) can take: its scores live in workgroup memory. */
  maxChunk: number;
  workgroupBytes: number;
  usesSubgroups: boolean;
}

// 64 invocations: eight 8-lane SIMD rows on lavapipe, two warps on NVIDIA.
const INVOCATIONS = 64;
// Lanes that share one K row: a power of two, each lane reading vec4s lane, lane + L, ... so the
// segment reads the row front to back in consecutive 16-byte pieces.
const MAX_ROW_LANES = 8;
// Query registers per invocation (vec4s): the group's query rows for the lane's slice of headDim.
const QUERY_REGISTERS = 64;
const MAX_CHUNK = 512;
const MERGE_INVOCATIONS = 64;

/**
 * Paged decode with split-K (flash-decoding). A workgroup takes one query token, one KV head and
 * a chunk of its keys, and serves all query heads of the KV head's group from one read of each
 * K and V row: segments of L lanes read a K row as consecutive vec4s and reduce the group's dot
 * products across the segment (subgroup shuffles, or workgroup memory on the portable path); the
 * chunk's scores stay in workgroup memory; then invocations across headDim read each V row once
 * and accumulate every head of the group. A second kernel merges the chunks by log-sum-exp.
 */
export function planDecode(shape: DecodeShape): DecodePlan {
  const { numHeads, numKvHeads, headDim, blockSize } = shape;
  checkHeads(numHeads, numKvHeads, headDim);
  const d4 = headDim / 4;
  if (d4 > INVOCATIONS) {
    throw new AttentionShapeError('attention', `headDim ${headDim} exceeds the decode kernel's ${INVOCATIONS * 4}`);
  }
  const group = numHeads / numKvHeads;
  const usesSubgroups = shape.subgroupMinSize >= 4;
  const laneCap = usesSubgroups ? Math.min(MAX_ROW_LANES, shape.subgroupMinSize) : MAX_ROW_LANES;
  let lanes = 1;
  while (lanes * 2 <= laneCap && d4 % (lanes * 2) === 0) lanes *= 2;
  const perLane = d4 / lanes;
  const headsPerWorkgroup = Math.max(1, Math.min(group, Math.floor(QUERY_REGISTERS / perLane)));
  const headChunks = Math.ceil(group / headsPerWorkgroup);
  const rowsPerPass = INVOCATIONS / lanes;
  const keyGroups = Math.floor(INVOCATIONS / d4);
  // Workgroup memory: reduction scratch (f32), softmax statistics, then the chunk's scores.
  const reduceFloats = Math.max(usesSubgroups ? 0 : INVOCATIONS * headsPerWorkgroup, headsPerWorkgroup * headDim);
  const fixedBytes = 4 * (reduceFloats + 2 * headsPerWorkgroup + INVOCATIONS);
  let maxChunk = MAX_CHUNK;
  while (maxChunk > rowsPerPass && fixedBytes + 4 * headsPerWorkgroup * maxChunk > shape.workgroupStorageBytes) {
    maxChunk /= 2;
  }
  const workgroupBytes = fixedBytes + 4 * headsPerWorkgroup * maxChunk;
  if (workgroupBytes > shape.workgroupStorageBytes) {
    throw new AttentionShapeError(
      'attention',
      `headDim ${headDim} with ${group} query heads per KV head needs ${workgroupBytes} bytes of ` +
        `workgroup memory, the adapter allows ${shape.workgroupStorageBytes}`,
    );
  }
  const c: DecodeConsts = {
    d4,
    group,
    numHeads,
    numKvHeads,
    blockSize,
    lanes,
    perLane,
    headsPerWorkgroup,
    headChunks,
    rowsPerPass,
    keyGroups,
    reduceFloats,
    maxChunk,
    usesSubgroups,
  };
  const tag = `d${headDim}-g${group}-b${blockSize}${usesSubgroups ? '-sg' : ''}`;
  return {
    single: { name: `attention-decode-${tag}`, code: decodeWgsl(c, true) },
    partial: { name: `attention-decode-split-${tag}`, code: decodeWgsl(c, false) },
    merge: { name: `attention-decode-merge-d${headDim}`, code: mergeWgsl(d4, numHeads) },
    mergeInvocations: MERGE_INVOCATIONS,
    headsPerWorkgroup,
    headChunks,
    maxChunk,
    workgroupBytes,
    usesSubgroups,
  };
}

interface DecodeConsts {
  d4: number;
  group: number;
  numHeads: number;
  numKvHeads: number;
  blockSize: number;
  lanes: number;
  perLane: number;
  headsPerWorkgroup: number;
  headChunks: number;
  rowsPerPass: number;
  keyGroups: number;
  reduceFloats: number;
  maxChunk: number;
  usesSubgroups: boolean;
}

function decodeWgsl(c: DecodeConsts, single: boolean): string {
  const outputs = single
    ? `@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;`
    : `// [numTokens, numHeads, numSplits, headDim] unnormalised sums and [.., numSplits] (max, sum).
@group(0) @binding(8) var<storage, read_write> partialAcc: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> partialStats: array<vec2<f32>>;`;
  const rowReduce = c.usesSubgroups
    ? `
    // Butterfly over the segment's lanes: every lane ends with the full dot products.
    for (var off = ROW_LANES / 2u; off > 0u; off /= 2u) {
      for (var h = 0u; h < HEADS_PER_WG; h++) {
        part[h] += subgroupShuffleXor(part[h], off);
      }
    }
    if (lane == 0u && j < chunkEnd) {
      for (var h = 0u; h < HEADS_PER_WG; h++) {
        scores[h * MAX_CHUNK + j - chunkStart] = part[h];
      }
    }`
    : `
    for (var h = 0u; h < HEADS_PER_WG; h++) {
      reduceBuf[lid * HEADS_PER_WG + h] = part[h];
    }
    workgroupBarrier();
    for (var i = lid; i < ROWS_PER_PASS * HEADS_PER_WG; i += WG) {
      let r = i / HEADS_PER_WG;
      let h = i % HEADS_PER_WG;
      var sum = 0.0;
      for (var l = 0u; l < ROW_LANES; l++) {
        sum += reduceBuf[(r * ROW_LANES + l) * HEADS_PER_WG + h];
      }
      if (base + r < chunkEnd) {
        scores[h * MAX_CHUNK + base + r - chunkStart] = sum;
      }
    }
    workgroupBarrier();`;
  const store = single
    ? `      out[(token * NUM_HEADS + head) * D4 + col] = reduceBuf4(h, col) / stats[h].y;`
    : `      let at = (token * NUM_HEADS + head) * params.numSplits + split;
      partialAcc[at * D4 + col] = reduceBuf4(h, col);
      if (col == 0u) {
        partialStats[at] = stats[h];
      }`;
  return /* wgsl */ `${c.usesSubgroups ? 'enable subgroups;\n' : ''}
// Split-K paged decode (see split-k-decode.wgsl.ts).
struct Params {
  numTokens: u32,
  maxBlocksPerSeq: u32,
  chunkLen: u32,
  numSplits: u32,
  scale: f32,
}

const D4 = ${c.d4}u;
const GROUP = ${c.group}u;
const NUM_HEADS = ${c.numHeads}u;
const NUM_KV_HEADS = ${c.numKvHeads}u;
const BLOCK_SIZE = ${c.blockSize}u;
const ROW_LANES = ${c.lanes}u;
const PER_LANE = ${c.perLane}u;
const HEADS_PER_WG = ${c.headsPerWorkgroup}u;
const HEAD_CHUNKS = ${c.headChunks}u;
const ROWS_PER_PASS = ${c.rowsPerPass}u;
const KEY_GROUPS = ${c.keyGroups}u;
const MAX_CHUNK = ${c.maxChunk}u;
const WG = ${INVOCATIONS}u;
const THREADS_PER_HEAD = max(1u, WG / HEADS_PER_WG);

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> blockTables: array<u32>;
@group(0) @binding(5) var<storage, read> queryStarts: array<u32>;
@group(0) @binding(6) var<storage, read> contextLens: array<u32>;
@group(0) @binding(7) var<storage, read> tokenSeqIds: array<u32>;
${outputs}

// Scores of the chunk, then its softmax numerators, per head: [HEADS_PER_WG, MAX_CHUNK].
var<workgroup> scores: array<f32, ${c.headsPerWorkgroup * c.maxChunk}>;
// Cross-lane dot products (portable path), then the heads' output rows [HEADS_PER_WG, D4 * 4].
var<workgroup> reduceBuf: array<f32, ${c.reduceFloats}>;
var<workgroup> partials: array<f32, WG>;
// (running max, sum of exponentials) per head of the chunk.
var<workgroup> stats: array<vec2<f32>, HEADS_PER_WG>;
// sequence, chunk start, chunk end (0 when the chunk is past this token's context).
var<workgroup> chunkInfo: vec3<u32>;

fn reduceBuf4(h: u32, col: u32) -> vec4<f32> {
  let at = (h * D4 + col) * 4u;
  return vec4<f32>(reduceBuf[at], reduceBuf[at + 1u], reduceBuf[at + 2u], reduceBuf[at + 3u]);
}

fn kvRow(tableBase: u32, j: u32, kvHead: u32) -> u32 {
  let slot = blockTables[tableBase + j / BLOCK_SIZE] * BLOCK_SIZE + j % BLOCK_SIZE;
  return (slot * NUM_KV_HEADS + kvHead) * D4;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
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
  let kvHead = wid.y / HEAD_CHUNKS;
  let firstHead = (wid.y % HEAD_CHUNKS) * HEADS_PER_WG;
  let tableBase = info.x * params.maxBlocksPerSeq;

  // ---- scores: a segment of ROW_LANES invocations per K row ----
  let lane = lid % ROW_LANES;
  let segment = lid / ROW_LANES;
  var qReg: array<vec4<f32>, ${c.headsPerWorkgroup * c.perLane}>;
  for (var h = 0u; h < HEADS_PER_WG; h++) {
    let inGroup = firstHead + h < GROUP;
    let qBase = (token * NUM_HEADS + kvHead * GROUP + min(firstHead + h, GROUP - 1u)) * D4;
    for (var v = 0u; v < PER_LANE; v++) {
      qReg[h * PER_LANE + v] = select(vec4<f32>(0.0), q[qBase + lane + v * ROW_LANES] * params.scale, inGroup);
    }
  }
  for (var base = chunkStart; base < chunkEnd; base += ROWS_PER_PASS) {
    let j = base + segment;
    // Explicitly zeroed: a loop-body var is not re-zeroed on every iteration by all compilers.
    var part = array<f32, HEADS_PER_WG>();
    if (j < chunkEnd) {
      let row = kvRow(tableBase, j, kvHead) + lane;
      for (var v = 0u; v < PER_LANE; v++) {
        let k = kCache[row + v * ROW_LANES];
        for (var h = 0u; h < HEADS_PER_WG; h++) {
          part[h] += dot(qReg[h * PER_LANE + v], k);
        }
      }
    }${rowReduce}
  }
  workgroupBarrier();

  // ---- softmax numerators of the chunk, per head ----
  let n = chunkEnd - chunkStart;
  let sh = lid / THREADS_PER_HEAD;
  let sub = lid % THREADS_PER_HEAD;
  var localMax = -3.0e38;
  if (sh < HEADS_PER_WG) {
    for (var j = sub; j < n; j += THREADS_PER_HEAD) {
      localMax = max(localMax, scores[sh * MAX_CHUNK + j]);
    }
  }
  partials[lid] = localMax;
  workgroupBarrier();
  var headMax = -3.0e38;
  if (sh < HEADS_PER_WG) {
    for (var i = 0u; i < THREADS_PER_HEAD; i++) {
      headMax = max(headMax, partials[sh * THREADS_PER_HEAD + i]);
    }
  }
  workgroupBarrier();
  var localSum = 0.0;
  if (sh < HEADS_PER_WG) {
    for (var j = sub; j < n; j += THREADS_PER_HEAD) {
      let p = exp(scores[sh * MAX_CHUNK + j] - headMax);
      scores[sh * MAX_CHUNK + j] = p;
      localSum += p;
    }
  }
  partials[lid] = localSum;
  workgroupBarrier();
  if (sh < HEADS_PER_WG && sub == 0u) {
    var sum = 0.0;
    for (var i = 0u; i < THREADS_PER_HEAD; i++) {
      sum += partials[sh * THREADS_PER_HEAD + i];
    }
    stats[sh] = vec2<f32>(headMax, sum);
  }
  workgroupBarrier();

  // ---- P V: invocations across headDim read each V row once for every head ----
  let col = lid % D4;
  let keyGroup = lid / D4;
  var acc: array<vec4<f32>, HEADS_PER_WG>;
  if (keyGroup < KEY_GROUPS) {
    for (var j = chunkStart + keyGroup; j < chunkEnd; j += KEY_GROUPS) {
      let v = vCache[kvRow(tableBase, j, kvHead) + col];
      for (var h = 0u; h < HEADS_PER_WG; h++) {
        acc[h] = fma(vec4<f32>(scores[h * MAX_CHUNK + j - chunkStart]), v, acc[h]);
      }
    }
  }
  // Key groups add their sums into workgroup memory one after another.
  for (var g = 0u; g < KEY_GROUPS; g++) {
    if (keyGroup == g) {
      for (var h = 0u; h < HEADS_PER_WG; h++) {
        let at = (h * D4 + col) * 4u;
        var prev = vec4<f32>(0.0);
        if (g > 0u) {
          prev = vec4<f32>(reduceBuf[at], reduceBuf[at + 1u], reduceBuf[at + 2u], reduceBuf[at + 3u]);
        }
        let sum = prev + acc[h];
        reduceBuf[at] = sum.x;
        reduceBuf[at + 1u] = sum.y;
        reduceBuf[at + 2u] = sum.z;
        reduceBuf[at + 3u] = sum.w;
      }
    }
    workgroupBarrier();
  }
  for (var i = lid; i < HEADS_PER_WG * D4; i += WG) {
    let h = i / D4;
    let col = i % D4;
    if (firstHead + h < GROUP) {
      let head = kvHead * GROUP + firstHead + h;
${store}
    }
  }
}
`;
}

function mergeWgsl(d4: number, numHeads: number): string {
  return /* wgsl */ `
// Log-sum-exp merge of split-K decode partials (see split-k-decode.wgsl.ts).
struct Params {
  numTokens: u32,
  maxBlocksPerSeq: u32,
  chunkLen: u32,
  numSplits: u32,
  scale: f32,
}

const D4 = ${d4}u;
const NUM_HEADS = ${numHeads}u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partialAcc: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> partialStats: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> queryStarts: array<u32>;
@group(0) @binding(4) var<storage, read> contextLens: array<u32>;
@group(0) @binding(5) var<storage, read> tokenSeqIds: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(${MERGE_INVOCATIONS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${MERGE_INVOCATIONS}u + gid.x;
  if (i >= params.numTokens * NUM_HEADS * D4) {
    return;
  }
  let th = i / D4;
  let col = i % D4;
  let token = th / NUM_HEADS;
  let seq = tokenSeqIds[token];
  let kvLen = contextLens[seq] - (queryStarts[seq + 1u] - token) + 1u;
  let splits = (kvLen + params.chunkLen - 1u) / params.chunkLen;
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
    num = fma(vec4<f32>(w), partialAcc[(base + s) * D4 + col], num);
    den = fma(w, st.y, den);
  }
  out[th * D4 + col] = num / den;
}
`;
}
