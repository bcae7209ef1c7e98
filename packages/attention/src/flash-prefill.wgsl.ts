import type { KernelSource } from '@llm/kernels';
import { AttentionShapeError } from './errors.js';

/** What a prefill pipeline is specialised on: the model's attention shape and the adapter's limits. */
export interface PrefillShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  /** Bytes of workgroup memory the adapter allows. */
  workgroupStorageBytes: number;
  /** Invocations per workgroup the adapter allows. */
  maxInvocations: number;
}

export interface PrefillPlan {
  kernel: KernelSource;
  /** Query tokens per workgroup. */
  tileTokens: number;
  /** Query heads per workgroup (all of a KV head's group unless the group is very large). */
  headsPerWorkgroup: number;
  /** Workgroups along y per KV head: the group's heads split into chunks of headsPerWorkgroup. */
  headChunks: number;
  /** Keys per K/V tile staged in workgroup memory. */
  keyTile: number;
  workgroupBytes: number;
}

// 64 invocations: eight 8-lane SIMD rows on lavapipe, two warps on NVIDIA. Each invocation owns
// one (query token, head) row, so the K/V tile in workgroup memory serves 64 rows.
const TARGET_INVOCATIONS = 64;
// Keys per tile at most: longer tiles leave more rows idle on the causal diagonal.
const MAX_KEY_TILE = 32;
// The workgroup's (sequence, tile) record beside the K/V tiles.
const TILE_INFO_BYTES = 16;

/**
 * Flash attention for a packed variable-length batch. A workgroup takes `tileTokens` queries of
 * one sequence and `headsPerWorkgroup` query heads of one KV head, so each K/V tile is loaded
 * once, through the block table, for all of them. Each invocation keeps its query row and output
 * accumulator in registers and an online softmax (running max and sum), so no score matrix
 * exists anywhere. Keys run from position 0, so a chunk that starts mid-sequence also attends to
 * blocks cached earlier.
 */
export function planPrefill(shape: PrefillShape): PrefillPlan {
  const { numHeads, numKvHeads, headDim, blockSize } = shape;
  checkHeads(numHeads, numKvHeads, headDim);
  const group = numHeads / numKvHeads;
  const maxInvocations = Math.min(shape.maxInvocations, 256);
  const headsPerWorkgroup = Math.min(group, maxInvocations);
  const headChunks = Math.ceil(group / headsPerWorkgroup);
  const tileTokens = Math.max(1, Math.floor(TARGET_INVOCATIONS / headsPerWorkgroup));
  const d4 = headDim / 4;
  // K and V tiles, 16 bytes per vec4: a power of two of keys that fits the adapter's memory.
  let keyTile = MAX_KEY_TILE;
  while (keyTile > 1 && 2 * keyTile * d4 * 16 + TILE_INFO_BYTES > shape.workgroupStorageBytes) keyTile /= 2;
  const workgroupBytes = 2 * keyTile * d4 * 16 + TILE_INFO_BYTES;
  if (workgroupBytes > shape.workgroupStorageBytes) {
    throw new AttentionShapeError(
      'attention',
      `headDim ${headDim} needs ${workgroupBytes} bytes of workgroup memory for one key, ` +
        `the adapter allows ${shape.workgroupStorageBytes}`,
    );
  }
  const invocations = tileTokens * headsPerWorkgroup;
  const code = prefillWgsl({
    d4,
    group,
    numHeads,
    numKvHeads,
    blockSize,
    headsPerWorkgroup,
    headChunks,
    tileTokens,
    keyTile,
    invocations,
  });
  return {
    kernel: { name: `attention-prefill-d${headDim}-g${group}-b${blockSize}`, code },
    tileTokens,
    headsPerWorkgroup,
    headChunks,
    keyTile,
    workgroupBytes,
  };
}

/** Workgroups along x for a batch: an upper bound of the query tiles over all sequences. */
export function prefillTileCount(plan: PrefillPlan, numTokens: number, numSeqs: number): number {
  // Sum over sequences of ceil(n_s / T) <= floor((numTokens + numSeqs * (T - 1)) / T).
  const t = plan.tileTokens;
  return Math.min(numTokens, Math.floor((numTokens + numSeqs * (t - 1)) / t));
}

export function checkHeads(numHeads: number, numKvHeads: number, headDim: number): void {
  if (!(Number.isInteger(numKvHeads) && numKvHeads >= 1 && numHeads % numKvHeads === 0)) {
    throw new AttentionShapeError(
      'attention',
      `numHeads ${numHeads} must be a positive multiple of numKvHeads ${numKvHeads}`,
    );
  }
  if (!(Number.isInteger(headDim) && headDim >= 4 && headDim % 4 === 0)) {
    throw new AttentionShapeError(
      'attention',
      `headDim ${headDim} must be a positive multiple of 4 (rows are read as vec4)`,
    );
  }
}

interface PrefillConsts {
  d4: number;
  group: number;
  numHeads: number;
  numKvHeads: number;
  blockSize: number;
  headsPerWorkgroup: number;
  headChunks: number;
  tileTokens: number;
  keyTile: number;
  invocations: number;
}

function prefillWgsl(c: PrefillConsts): string {
  return /* wgsl */ `
// Flash-attention prefill over a paged KV pool (see flash-prefill.wgsl.ts).
struct Params {
  numTokens: u32,
  numSeqs: u32,
  maxBlocksPerSeq: u32,
  scale: f32,
}

const D4 = ${c.d4}u;
const GROUP = ${c.group}u;
const NUM_HEADS = ${c.numHeads}u;
const NUM_KV_HEADS = ${c.numKvHeads}u;
const BLOCK_SIZE = ${c.blockSize}u;
const HEADS_PER_WG = ${c.headsPerWorkgroup}u;
const HEAD_CHUNKS = ${c.headChunks}u;
const TILE_TOKENS = ${c.tileTokens}u;
const KEY_TILE = ${c.keyTile}u;
const WG = ${c.invocations}u;
// Masked scores: exp(MASKED - m) is exactly 0 for any finite running max m.
const MASKED = -3.0e38;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> blockTables: array<u32>;
@group(0) @binding(5) var<storage, read> queryStarts: array<u32>;
@group(0) @binding(6) var<storage, read> contextLens: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> kTile: array<vec4<f32>, ${c.keyTile * c.d4}>;
var<workgroup> vTile: array<vec4<f32>, ${c.keyTile * c.d4}>;
// seq (numSeqs when this workgroup has no tile), first token, end of the sequence's tokens, KV end.
var<workgroup> tileInfo: vec4<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    // Find this workgroup's (sequence, query tile) by walking the sequences' tile counts.
    var info = vec4<u32>(params.numSeqs, 0u, 0u, 0u);
    var before = 0u;
    for (var s = 0u; s < params.numSeqs; s++) {
      let start = queryStarts[s];
      let end = queryStarts[s + 1u];
      let tiles = (end - start + TILE_TOKENS - 1u) / TILE_TOKENS;
      if (wid.x < before + tiles) {
        let first = start + (wid.x - before) * TILE_TOKENS;
        let last = min(first + TILE_TOKENS, end) - 1u;
        // The tile's last query sees the most keys: positions 0..ctx - (end - last) inclusive.
        info = vec4<u32>(s, first, end, contextLens[s] - (end - last) + 1u);
        break;
      }
      before += tiles;
    }
    tileInfo = info;
  }
  let info = workgroupUniformLoad(&tileInfo);
  if (info.x >= params.numSeqs) {
    return;
  }
  let seq = info.x;
  let kvEnd = info.w;
  let kvHead = wid.y / HEAD_CHUNKS;
  let headInGroup = (wid.y % HEAD_CHUNKS) * HEADS_PER_WG + lid % HEADS_PER_WG;
  let token = info.y + lid / HEADS_PER_WG;
  // Invocations past the sequence's tokens or the group's heads compute a throwaway row (on
  // token info.y, key 0 onwards) so that every invocation reaches the barriers.
  let live = token < info.z && headInGroup < GROUP;
  let row = select(info.y, token, live);
  let head = kvHead * GROUP + select(0u, headInGroup, live);
  let pos = contextLens[seq] - (info.z - row);
  let tableBase = seq * params.maxBlocksPerSeq;

  var qRow: array<vec4<f32>, D4>;
  let qBase = (row * NUM_HEADS + head) * D4;
  for (var c = 0u; c < D4; c++) {
    qRow[c] = q[qBase + c] * params.scale;
  }
  var acc: array<vec4<f32>, D4>;
  var m = MASKED;
  var l = 0.0;
  var s: array<f32, KEY_TILE>;

  for (var kt = 0u; kt < kvEnd; kt += KEY_TILE) {
    workgroupBarrier();
    // Consecutive invocations load consecutive vec4s of a K/V row; keys past kvEnd stay zero
    // because the pool may hold anything (NaN included) past a sequence's end.
    for (var i = lid; i < KEY_TILE * D4; i += WG) {
      let j = kt + i / D4;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (j < kvEnd) {
        let slot = blockTables[tableBase + j / BLOCK_SIZE] * BLOCK_SIZE + j % BLOCK_SIZE;
        let at = (slot * NUM_KV_HEADS + kvHead) * D4 + i % D4;
        kv = kCache[at];
        vv = vCache[at];
      }
      kTile[i] = kv;
      vTile[i] = vv;
    }
    workgroupBarrier();

    var tileMax = MASKED;
    for (var jj = 0u; jj < KEY_TILE; jj++) {
      var dot4 = vec4<f32>(0.0);
      for (var c = 0u; c < D4; c++) {
        dot4 = fma(qRow[c], kTile[jj * D4 + c], dot4);
      }
      let score = select(MASKED, dot4.x + dot4.y + dot4.z + dot4.w, kt + jj <= pos);
      s[jj] = score;
      tileMax = max(tileMax, score);
    }
    let mNew = max(m, tileMax);
    let alpha = exp(m - mNew);
    m = mNew;
    var tileSum = 0.0;
    for (var jj = 0u; jj < KEY_TILE; jj++) {
      let p = exp(s[jj] - mNew);
      s[jj] = p;
      tileSum += p;
    }
    l = l * alpha + tileSum;
    for (var c = 0u; c < D4; c++) {
      var a = acc[c] * alpha;
      for (var jj = 0u; jj < KEY_TILE; jj++) {
        a = fma(vec4<f32>(s[jj]), vTile[jj * D4 + c], a);
      }
      acc[c] = a;
    }
  }

  if (live) {
    let inv = 1.0 / l;
    let oBase = (token * NUM_HEADS + head) * D4;
    for (var c = 0u; c < D4; c++) {
      out[oBase + c] = acc[c] * inv;
    }
  }
}
`;
}
