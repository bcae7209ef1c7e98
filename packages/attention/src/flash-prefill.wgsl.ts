import { KernelShapeError, declareKernel, declaredKernel } from '@llm/kernels';
import type { DeclaredKernel, StorageFormat } from '@llm/kernels';
import { pagedInputBindings } from './paged-bindings.js';
import { unroll } from './wgsl-unroll.js';

/**
 * Flash-attention prefill for a packed variable-length batch over the paged KV pool.
 *
 * A workgroup takes ROWS query rows: `tileTokens` consecutive query tokens of one sequence times
 * `headsPerWorkgroup` query heads of one KV head, so each K and V tile, gathered through the
 * block table into workgroup memory, serves every head of the group. Per K/V tile it computes
 * the ROWS x KEY_TILE scores (S = Q Kᵀ, in workgroup memory), updates each row's running max and
 * sum (online softmax), and accumulates P V into registers: the score matrix never exists beyond
 * one tile. Keys run from position 0, so a chunk that starts mid-sequence also attends to blocks
 * cached earlier (chunked prefill, prefix-cache hits).
 *
 * Specialised on headDim only (tile sizes follow from it and the adapter's workgroup memory);
 * head counts, block size and the batch are runtime parameters.
 */
export interface PrefillKernel {
  source: DeclaredKernel<typeof PREFILL_PARAMS, PrefillBindings>;
  /** Query rows (token x head) per workgroup. */
  rows: number;
  /** Keys per K/V tile. */
  keyTile: number;
}

export interface PrefillLayout {
  headsPerWorkgroup: number;
  /** Workgroups per KV head along y: the group's heads in chunks of headsPerWorkgroup. */
  headChunks: number;
  tileTokens: number;
}

// 64 invocations: eight 8-lane SIMD rows on lavapipe, two warps on NVIDIA.
const WORKGROUP = 64;
// Output vec4s one invocation accumulates in registers during a tile's P V (ROWS x headDim / 4
// spread over the invocations). Between tiles the output rows live in workgroup memory: values
// live across a barrier are what makes lavapipe's compile time grow steeply (each barrier is a
// coroutine suspend point there), and they would be spilled on GPUs anyway.
const MAX_ACC_REGISTERS = 8;
// Scores one invocation accumulates in registers per tile in the S phase.
const MAX_KEYS_PER_INVOCATION = 8;
const TILE_INFO_BYTES = 16;

export function prefillKernel(
  headDim: number,
  workgroupStorageBytes: number,
  pool: StorageFormat,
): PrefillKernel {
  const d4 = headDim / 4;
  // PV: invocations across the row's vec4 columns, ROW_GROUPS of them side by side.
  let rowGroups = 1;
  while (rowGroups * 2 * d4 <= WORKGROUP) rowGroups *= 2;
  // Output rows, one K or V tile, scores, and two floats per row.
  const bytes = (rows: number, keys: number) =>
    4 * (rows * headDim + keys * headDim + rows * keys + 2 * rows) + TILE_INFO_BYTES;
  let best: { rows: number; keyTile: number } | undefined;
  for (const rows of [64, 32, 16, 8]) {
    if (rows / Math.min(rowGroups, rows) > MAX_ACC_REGISTERS) continue;
    // One to MAX_KEYS_PER_INVOCATION keys per invocation in the S phase.
    const keyGroups = WORKGROUP / rows;
    const keyTile = [32, 16, 8].find(
      (k) =>
        k >= keyGroups && k / keyGroups <= MAX_KEYS_PER_INVOCATION && bytes(rows, k) <= workgroupStorageBytes,
    );
    if (keyTile) {
      best = { rows, keyTile };
      break;
    }
  }
  if (!best) {
    throw new KernelShapeError(
      'attention',
      `headDim ${headDim} needs ${bytes(8, 8)} bytes of workgroup memory for the smallest prefill tile, ` +
        `the adapter allows ${workgroupStorageBytes}`,
    );
  }
  const { rows, keyTile } = best;
  return {
    source: declaredKernel(
      `attention-prefill-d${headDim}-${pool.tag}`,
      declareKernel({ name: 'attention', params: PREFILL_PARAMS, bindings: prefillBindings(pool) }),
      prefillWgsl(d4, rows, keyTile, Math.min(rowGroups, rows)),
    ),
    rows,
    keyTile,
  };
}

export function prefillLayout(kernel: PrefillKernel, numHeads: number, numKvHeads: number): PrefillLayout {
  const group = numHeads / numKvHeads;
  const headsPerWorkgroup = Math.min(group, kernel.rows);
  return {
    headsPerWorkgroup,
    headChunks: Math.ceil(group / headsPerWorkgroup),
    tileTokens: Math.floor(kernel.rows / headsPerWorkgroup),
  };
}

/** Workgroups along x for a batch: an upper bound of the query tiles over all sequences. */
export function prefillTileCount(layout: PrefillLayout, numTokens: number, numSeqs: number): number {
  // Sum over sequences of ceil(n_s / T) <= floor((numTokens + numSeqs * (T - 1)) / T).
  const t = layout.tileTokens;
  return Math.min(numTokens, Math.floor((numTokens + numSeqs * (t - 1)) / t));
}

export const PREFILL_PARAMS = {
  numTokens: 'u32',
  // Sequences [seqStart, numSeqs) of the batch are this dispatch's (the others decode).
  seqStart: 'u32',
  numSeqs: 'u32',
  maxBlocksPerSeq: 'u32',
  numHeads: 'u32',
  numKvHeads: 'u32',
  headsPerWorkgroup: 'u32',
  headChunks: 'u32',
  tileTokens: 'u32',
  blockSize: 'u32',
  // The tile sizes again, as loop bounds the compiler cannot unroll: unrolled, the scoring and
  // P V loops multiply the code size and lavapipe's compile time (seconds per pipeline).
  headDim4: 'u32',
  keyTile: 'u32',
  scale: 'f32',
} as const;

function prefillBindings(pool: StorageFormat) {
  return {
    ...pagedInputBindings(pool),
    out: { access: 'read_write', type: 'vec4<f32>' },
  } as const;
}

type PrefillBindings = ReturnType<typeof prefillBindings>;

function prefillWgsl(d4: number, rows: number, keyTile: number, rowGroups: number): string {
  const keyGroups = WORKGROUP / rows;
  const keysPerThread = keyTile / keyGroups;
  const rowsPerThread = rows / rowGroups;
  const oIndex = (i: number) => `(rowGroup + ${i * rowGroups}u) * D4 + col`;
  return /* wgsl */ `
// Flash-attention prefill over a paged KV pool (see flash-prefill.wgsl.ts).

const D4 = ${d4}u;
const ROWS = ${rows}u;
const KEY_TILE = ${keyTile}u;
const WG = ${WORKGROUP}u;
// S phase: invocation (row lid % ROWS, key group lid / ROWS) scores keys g, g + KEY_GROUPS, ...
const KEY_GROUPS = ${keyGroups}u;
// PV phase: invocation (column lid % D4, row group lid / D4) owns rows g, g + ROW_GROUPS, ...
const ROW_GROUPS = ${rowGroups}u;
// Masked scores: exp(MASKED - m) is exactly 0 for any finite running max m.
const MASKED = -3.0e38;

// Unnormalised output rows, [ROWS, D4].
var<workgroup> oTile: array<vec4<f32>, ${rows * d4}>;
// The K tile, then the V tile, [KEY_TILE, D4].
var<workgroup> kvTile: array<vec4<f32>, ${keyTile * d4}>;
// Scores, then softmax numerators, [ROWS, KEY_TILE].
var<workgroup> sTile: array<f32, ${rows * keyTile}>;
// Per row: the factor that rescales its accumulator for this tile, then its final sum.
var<workgroup> rowScale: array<f32, ROWS>;
var<workgroup> rowSum: array<f32, ROWS>;
// seq (numSeqs when this workgroup has no tile), first token, end of the sequence's tokens, KV end.
var<workgroup> tileInfo: vec4<u32>;

struct Row {
  token: u32,
  head: u32,
  // Last key position the row attends to.
  pos: u32,
  live: bool,
}

// Row r of the tile: token first + r / headsPerWorkgroup, head r % headsPerWorkgroup of this
// workgroup's chunk of the group. Rows past the sequence or the group are computed on key 0 only
// (never stored), so that every invocation reaches every barrier.
fn tileRow(r: u32, info: vec4<u32>, kvHead: u32, chunk: u32) -> Row {
  let group = params.numHeads / params.numKvHeads;
  let token = info.y + r / params.headsPerWorkgroup;
  let inGroup = chunk * params.headsPerWorkgroup + r % params.headsPerWorkgroup;
  let live = r < params.tileTokens * params.headsPerWorkgroup && token < info.z && inGroup < group;
  let pos = contextLens[info.x] - (info.z - token);
  return Row(token, kvHead * group + inGroup, select(0u, pos, live), live);
}

fn loadKv(tableBase: u32, kt: u32, kvEnd: u32, kvHead: u32, lid: u32, fromV: bool) {
  // Consecutive invocations load consecutive vec4s of a row; keys past kvEnd are zero because
  // the pool may hold anything (NaN included) past a sequence's end.
  for (var i = lid; i < KEY_TILE * D4; i += WG) {
    let j = kt + i / D4;
    var x = vec4<f32>(0.0);
    if (j < kvEnd) {
      let block = blockTables[tableBase + j / params.blockSize];
      let row = (block * params.numKvHeads + kvHead) * params.blockSize + j % params.blockSize;
      let at = row * D4 + i % D4;
      if (fromV) {
        x = vCacheAt(at);
      } else {
        x = kCacheAt(at);
      }
    }
    kvTile[i] = x;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    // Find this workgroup's (sequence, query tile) by walking the sequences' tile counts.
    var info = vec4<u32>(params.numSeqs, 0u, 0u, 0u);
    var before = 0u;
    for (var s = params.seqStart; s < params.numSeqs; s++) {
      let start = queryStarts[s];
      let end = queryStarts[s + 1u];
      let tiles = (end - start + params.tileTokens - 1u) / params.tileTokens;
      if (wid.x < before + tiles) {
        let first = start + (wid.x - before) * params.tileTokens;
        let last = min(first + params.tileTokens, end) - 1u;
        // The tile's last token sees the most keys: positions 0..ctx - (end - last).
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
  let kvEnd = info.w;
  let kvHead = wid.y / params.headChunks;
  let chunk = wid.y % params.headChunks;
  let tableBase = info.x * params.maxBlocksPerSeq;

  for (var i = lid; i < ROWS * D4; i += WG) {
    oTile[i] = vec4<f32>(0.0);
  }

  // S phase: this invocation's row and keys; its query row is read from q (cached) per tile.
  let sRow = tileRow(lid % ROWS, info, kvHead, chunk);
  let qBase = select(0u, (sRow.token * params.numHeads + sRow.head) * D4, sRow.live);
  let keyGroup = lid / ROWS;
  // Softmax phase: invocation r < ROWS owns row r's running max and sum.
  var m = MASKED;
  var l = 0.0;
  // PV phase: this invocation's column and rows.
  let col = lid % D4;
  let rowGroup = lid / D4;

  for (var kt = 0u; kt < kvEnd; kt += KEY_TILE) {
    workgroupBarrier();
    loadKv(tableBase, kt, kvEnd, kvHead, lid, false);
    workgroupBarrier();

${unroll(keysPerThread, (i) => `var s${i} = 0.0;`, '    ')}
    for (var c = 0u; c < params.headDim4; c++) {
      let qv = q[qBase + c];
${unroll(keysPerThread, (i) => `s${i} += dot(qv, kvTile[(keyGroup + ${i * keyGroups}u) * D4 + c]);`, '      ')}
    }
${unroll(
  keysPerThread,
  (i) => {
    const kk = `keyGroup + ${i * keyGroups}u`;
    return `sTile[(lid % ROWS) * KEY_TILE + ${kk}] = select(MASKED, s${i} * params.scale, kt + ${kk} <= sRow.pos);`;
  },
  '    ',
)}
    workgroupBarrier();

    loadKv(tableBase, kt, kvEnd, kvHead, lid, true);
    if (lid < ROWS) {
      var tileMax = MASKED;
      for (var kk = 0u; kk < params.keyTile; kk++) {
        tileMax = max(tileMax, sTile[lid * KEY_TILE + kk]);
      }
      let mNew = max(m, tileMax);
      // Exactly 1 when the max stays: the tiles past a row's position (its sequence's later tokens
      // in this chunk see more keys) then leave the row as it was, so a token's output does not
      // depend on how its prompt was chunked.
      let alpha = select(exp(m - mNew), 1.0, mNew == m);
      var tileSum = 0.0;
      for (var kk = 0u; kk < params.keyTile; kk++) {
        let p = exp(sTile[lid * KEY_TILE + kk] - mNew);
        sTile[lid * KEY_TILE + kk] = p;
        tileSum += p;
      }
      m = mNew;
      l = l * alpha + tileSum;
      rowScale[lid] = alpha;
    }
    workgroupBarrier();

    if (rowGroup < ROW_GROUPS) {
${unroll(rowsPerThread, (i) => `var acc${i} = oTile[${oIndex(i)}] * rowScale[rowGroup + ${i * rowGroups}u];`, '      ')}
      for (var kk = 0u; kk < params.keyTile; kk++) {
        let v = kvTile[kk * D4 + col];
${unroll(rowsPerThread, (i) => `acc${i} = fma(vec4<f32>(sTile[(rowGroup + ${i * rowGroups}u) * KEY_TILE + kk]), v, acc${i});`, '        ')}
      }
${unroll(rowsPerThread, (i) => `oTile[${oIndex(i)}] = acc${i};`, '      ')}
    }
  }

  if (lid < ROWS) {
    rowSum[lid] = l;
  }
  workgroupBarrier();
  for (var i = lid; i < ROWS * D4; i += WG) {
    let row = tileRow(i / D4, info, kvHead, chunk);
    if (row.live) {
      out[(row.token * params.numHeads + row.head) * D4 + i % D4] = oTile[i] / rowSum[i / D4];
    }
  }
}
`;
}

export function checkHeads(numHeads: number, numKvHeads: number, headDim: number): void {
  if (!(Number.isInteger(numKvHeads) && numKvHeads >= 1 && numHeads % numKvHeads === 0)) {
    throw new KernelShapeError(
      'attention',
      `numHeads ${numHeads} must be a positive multiple of numKvHeads ${numKvHeads}`,
    );
  }
  if (!(Number.isInteger(headDim) && headDim >= 4 && headDim % 4 === 0 && headDim <= 256)) {
    throw new KernelShapeError(
      'attention',
      `headDim ${headDim} must be a multiple of 4 in 4..256 (rows are read as vec4)`,
    );
  }
}
