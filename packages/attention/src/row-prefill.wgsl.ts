import { declareKernel, declaredKernel } from '@llm/kernels';
import type { DeclaredKernel, StorageFormat } from '@llm/kernels';
import { pagedInputBindings } from './paged-bindings.js';
import { reduceScatter, rowSegment } from './subgroup-decode.wgsl.js';
import { onlineSoftmaxStep } from './online-softmax.wgsl.js';
import { unroll } from './wgsl-unroll.js';

/**
 * Prefill for CPU adapters, built like the subgroup decode kernel and without workgroup memory
 * or barriers: a segment of ROW_LANES lanes takes ROWS query rows of one head, the positions
 * ROWS b .. ROWS b + ROWS - 1 of one sequence, and streams their KV head's keys 0..(the last of
 * them) once for all ROWS. Lane l holds PER_LANE adjacent vec4 columns of every row's query and
 * output; per key the rows' partial dot products are summed by a reduce-scatter of subgroup
 * shuffles, the lane that ends up with a row's score updates its running max and sum (online
 * softmax, one exponential), and every lane adds the V row weighted by the numerators it takes
 * from those lanes. A row stops at its own position: later keys get a score below any other,
 * which leaves its sums exactly as they were.
 *
 * On lavapipe a barrier turns the shader into coroutines and every storage load is a per-lane
 * loop: the flash kernel's tiles took 43 % of a 512-token prefill step of a 6-head model (its
 * matrix products 51 %); a kernel with an invocation per row, reading every K and V row per
 * lane, was slower still.
 *
 * Rows sit in blocks aligned to their positions, so a token's lane, its columns and the order of
 * its sums follow from its position alone: it gets the same bits however its prompt is chunked
 * and whatever runs beside it. lavapipe hands its threads equal runs of workgroups, and causal
 * rows grow longer down a prompt, so workgroups take blocks from both ends in turn.
 */
export interface RowPrefillKernel {
  source: DeclaredKernel<typeof ROW_PREFILL_PARAMS, RowPrefillBindings>;
  /** Invocations per workgroup: one subgroup. */
  workgroup: number;
  /** Query rows (positions) per segment, and segments per workgroup. */
  rows: number;
  segments: number;
}

export const ROW_PREFILL_PARAMS = {
  // Sequences [seqStart, numSeqs) of the batch are this dispatch's (the ones before decode).
  seqStart: 'u32',
  numSeqs: 'u32',
  numHeads: 'u32',
  numKvHeads: 'u32',
  maxBlocksPerSeq: 'u32',
  blockSize: 'u32',
  // Workgroups of the dispatch (for the two-ended order).
  workgroups: 'u32',
  scale: 'f32',
} as const;

function rowPrefillBindings(pool: StorageFormat) {
  return {
    ...pagedInputBindings(pool),
    out: { access: 'read_write', type: 'vec4<f32>' },
  } as const;
}

type RowPrefillBindings = ReturnType<typeof rowPrefillBindings>;

export function rowPrefillKernel(
  headDim: number,
  subgroupSize: number,
  pool: StorageFormat,
): RowPrefillKernel {
  const d4 = headDim / 4;
  const { lanes, perLane, maxRows: rows } = rowSegment(d4, subgroupSize);
  const segments = subgroupSize / lanes;
  const source = declaredKernel(
    `attention-prefill-rows-d${headDim}-sg${subgroupSize}-${pool.tag}`,
    declareKernel({
      name: 'attention',
      params: ROW_PREFILL_PARAMS,
      bindings: rowPrefillBindings(pool),
      enable: ['subgroups'],
    }),
    rowPrefillWgsl(d4, lanes, perLane, rows, segments),
  );
  return { source, workgroup: subgroupSize, rows, segments };
}

/** Workgroups for a batch: an upper bound of its blocks x heads, over the segments. */
export function rowPrefillWorkgroups(
  kernel: RowPrefillKernel,
  numTokens: number,
  numSeqs: number,
  numHeads: number,
): number {
  // A sequence's n tokens touch at most ceil(n / R) + 1 aligned blocks, and the sum over the
  // sequences of ceil(n_s / R) is at most floor((numTokens + numSeqs (R - 1)) / R).
  const r = kernel.rows;
  const blocks = Math.floor((numTokens + numSeqs * (r - 1)) / r) + numSeqs;
  return Math.ceil((blocks * numHeads) / kernel.segments);
}

function rowPrefillWgsl(d4: number, lanes: number, perLane: number, rows: number, segments: number): string {
  const R = Array.from({ length: rows }, (_, r) => r);
  const reg = (r: number, v: number) => `${r}_${v}`;
  const owner = (r: number) => r * (lanes / rows);
  // Value x of lane `owner` of this lane's segment: constant-lane broadcasts (register shuffles
  // on lavapipe), one per segment, picked by the segment.
  const fromOwner = (x: string, r: number) => {
    let e = `subgroupBroadcast(${x}, ${owner(r)}u)`;
    for (let s = 1; s < segments; s++)
      e = `select(${e}, subgroupBroadcast(${x}, ${s * lanes + owner(r)}u), segment == ${s}u)`;
    return e;
  };
  const reduced = reduceScatter(
    R.map((r) => `part${r}`),
    lanes,
    '      ',
  );
  return /* wgsl */ `
// Row prefill on subgroups over a paged KV pool (see row-prefill.wgsl.ts).

const D4 = ${d4}u;
const ROW_LANES = ${lanes}u;
const PER_LANE = ${perLane}u;
const ROWS = ${rows}u;
const SEGMENTS = ${segments}u;
// Below any score: exp(-|MASKED - m|) is exactly 0 for any finite m.
const MASKED = -3.0e38;

struct Item {
  seq: u32,
  // The block: positions ROWS * block .. ROWS * block + ROWS - 1.
  block: u32,
  head: u32,
  // Position of the chunk's first token and its token count, and that token's index in the batch.
  first: u32,
  count: u32,
  qStart: u32,
}

// Items of the dispatch: every (sequence, block, head), sequences in order, a sequence's blocks in
// order, a block's heads in order.
fn seqItems(s: u32) -> u32 {
  let count = queryStarts[s + 1u] - queryStarts[s];
  let first = contextLens[s] - count;
  return ((first + count - 1u) / ROWS - first / ROWS + 1u) * params.numHeads;
}

fn itemCount() -> u32 {
  var total = 0u;
  for (var s = params.seqStart; s < params.numSeqs; s++) {
    total += seqItems(s);
  }
  return total;
}

// The item-th item (item < itemCount()).
fn findItem(item: u32) -> Item {
  var rest = item;
  var s = params.seqStart;
  for (; s + 1u < params.numSeqs; s++) {
    let items = seqItems(s);
    if (rest < items) {
      break;
    }
    rest -= items;
  }
  let qStart = queryStarts[s];
  let count = queryStarts[s + 1u] - qStart;
  let first = contextLens[s] - count;
  return Item(s, first / ROWS + rest / params.numHeads, rest % params.numHeads, first, count, qStart);
}

// Segments run loops of their own lengths; a lane only ever uses values from its own segment.
@diagnostic(off, subgroup_uniformity)
@compute @workgroup_size(${lanes * segments})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let half = wid.x >> 1u;
  let w = select(params.workgroups - 1u - half, half, (wid.x & 1u) == 0u);
  let total = itemCount();
  if (w * SEGMENTS >= total) {
    return;
  }
  let lane = sgLane % ROW_LANES;
  let segment = sgLane / ROW_LANES;
  // Segments past the last item shadow it and store nothing: every lane takes part in the shuffles.
  let itemIndex = w * SEGMENTS + segment;
  let it = findItem(min(itemIndex, total - 1u));
  let live = itemIndex < total;
  let base = it.block * ROWS;
  // The block's rows that are this chunk's tokens; the others repeat the nearest one, unstored.
  let lo = max(base, it.first);
  let hi = min(base + ROWS - 1u, it.first + it.count - 1u);
  let kvHead = it.head / (params.numHeads / params.numKvHeads);
  let tableBase = it.seq * params.maxBlocksPerSeq;
${unroll(rows, (r) => `let qRow${r} = (it.qStart + clamp(base + ${r}u, lo, hi) - it.first) * params.numHeads + it.head;`)}
${unroll(rows * perLane, (i) => `let q${reg(Math.floor(i / perLane), i % perLane)} = q[qRow${Math.floor(i / perLane)} * D4 + lane * PER_LANE + ${i % perLane}u] * params.scale;`)}
${unroll(rows * perLane, (i) => `var acc${reg(Math.floor(i / perLane), i % perLane)} = vec4<f32>(0.0);`)}
  // The row whose score, running max and sum this lane holds after the reduce-scatter.
  let myPos = clamp(base + lane / (ROW_LANES / ROWS), lo, hi);
  var m = MASKED;
  var l = 0.0;
  let end = hi + 1u;
  var block = 0u;
  for (var blockStart = 0u; blockStart < end;) {
    let keys = min(params.blockSize, end - blockStart);
    var row = ((blockTables[tableBase + block] * params.numKvHeads + kvHead) * params.blockSize) * D4 + lane * PER_LANE;
    for (var i = 0u; i < keys; i++) {
${unroll(perLane, (v) => `let k${v} = kCacheAt(row + ${v}u);`, '      ')}
${unroll(rows, (r) => `let part${r} = ${Array.from({ length: perLane }, (_, v) => `dot(q${reg(r, v)}, k${v})`).join(' + ')};`, '      ')}
${reduced.code}
      let s = select(${reduced.total}, MASKED, blockStart + i > myPos);
${onlineSoftmaxStep('      ')}
${unroll(rows, (r) => `let alpha${r} = vec4<f32>(${fromOwner('alpha', r)});`, '      ')}
${unroll(rows, (r) => `let p${r} = vec4<f32>(${fromOwner('p', r)});`, '      ')}
${unroll(perLane, (v) => `let v${v} = vCacheAt(row + ${v}u);`, '      ')}
${unroll(rows * perLane, (i) => `acc${reg(Math.floor(i / perLane), i % perLane)} = fma(p${Math.floor(i / perLane)}, v${i % perLane}, acc${reg(Math.floor(i / perLane), i % perLane)} * alpha${Math.floor(i / perLane)});`, '      ')}
      row += D4;
    }
    blockStart += keys;
    block += 1u;
  }
${unroll(rows, (r) => `let sum${r} = ${fromOwner('l', r)};`)}
${R.map(
  (r) => `  if (live && base + ${r}u >= lo && base + ${r}u <= hi) {
${unroll(perLane, (v) => `out[qRow${r} * D4 + lane * PER_LANE + ${v}u] = acc${reg(r, v)} / sum${r};`, '    ')}
  }`,
).join('\n')}
}
`;
}
