import { I8_QUANTIZE_WGSL, KernelShapeError, declaredKernel } from '@llm/kernels';
import type { StorageFormat } from '@llm/kernels';
import { decodeDeclaration } from './decode-declaration.js';
import type { DecodeKernel } from './decode-declaration.js';
import { onlineSoftmaxStep } from './online-softmax.wgsl.js';
import { unroll } from './wgsl-unroll.js';

/**
 * Streaming split-K decode on subgroups (the subgroups variant of split-k-decode.wgsl.ts). A
 * segment of ROW_LANES invocations (within one subgroup) takes one KV head and streams its
 * contiguous blockSize x headDim tile of every block of the chunk, key by key. In a segment, lane
 * l holds the P = headDim / 4L adjacent vec4 columns lP .. lP + P - 1 of the head block's query
 * rows and output accumulators, so a K or V row is read once for all heads of the block, its
 * first vec4 load already touching every cache line of the row (on lavapipe, whose loads are
 * per-lane scalar sequences, the row's lines are then in flight together). Per key:
 *
 * 1. the K row's partial dot products are summed over the lanes by a reduce-scatter butterfly of
 *    subgroup shuffles, which leaves head h's score in lane h * (L / HEAD_BLOCK);
 * 2. that lane updates the head's running max and sum (online softmax) with one exponential;
 * 3. every lane rescales its accumulators and adds the V row weighted by the numerators it takes
 *    from the owning lanes by broadcast.
 *
 * A workgroup is one subgroup's worth of segments and nothing goes through workgroup memory: no
 * barrier at all, so scores of any number of keys cost no memory and chunks are sized for
 * parallelism only. The loop body is one key and free of divisions: on lavapipe, a barrier
 * makes the shader a coroutine, a vector division is eight scalar ones, and bodies of several
 * unrolled keys ran slower; together these halved the kernel's time there.
 */
export interface SubgroupDecodeKernel {
  source: DecodeKernel;
  /**
   * The same kernel also writing each direct (single-split) token's output quantized to int8 per
   * 32-value group, where the head's lanes hold whole groups; else undefined.
   */
  int8Source: DecodeKernel | undefined;
  /** KV heads side by side in one workgroup (one segment of lanes each). */
  kvHeadsPerWorkgroup: number;
}

// Lanes per K row: a power of two dividing headDim / 4, at most the subgroup's minimum size and
// at most lavapipe's SIMD width.
const MAX_ROW_LANES = 8;
// Query (and accumulator) vec4s per lane: heads of the block x the lane's columns.
const MAX_REGISTERS = 16;

/**
 * How a segment of lanes splits K rows of d4 vec4s: `lanes` (a power of two dividing d4, at most
 * MAX_ROW_LANES and the subgroup size) of `perLane` adjacent vec4 columns each, and `maxRows`, the
 * query rows a segment holds at once (at most one per lane after the reduce-scatter, and
 * MAX_REGISTERS vec4s of queries and accumulators per lane). The decode kernel's rows are heads,
 * the rows prefill kernel's positions.
 */
export function rowSegment(
  d4: number,
  subgroupSize: number,
): { lanes: number; perLane: number; maxRows: number } {
  let lanes = 1;
  while (lanes * 2 <= Math.min(MAX_ROW_LANES, subgroupSize) && d4 % (lanes * 2) === 0) lanes *= 2;
  const perLane = d4 / lanes;
  return {
    lanes,
    perLane,
    maxRows: Math.min(lanes, Math.max(1, 2 ** Math.floor(Math.log2(MAX_REGISTERS / perLane)))),
  };
}

export function subgroupDecodeKernel(
  headDim: number,
  group: number,
  numKvHeads: number,
  subgroupMinSize: number,
  maxInvocations: number,
  pool: StorageFormat,
  kvHeadsPerWorkgroup?: number,
): SubgroupDecodeKernel {
  const d4 = headDim / 4;
  const { lanes, perLane, maxRows } = rowSegment(d4, subgroupMinSize);
  const headBlock = Math.min(maxRows, 2 ** Math.ceil(Math.log2(group)));
  // One subgroup per workgroup by default: segments of adjacent KV heads fill it.
  const kvPerWorkgroup =
    kvHeadsPerWorkgroup ?? Math.max(1, Math.min(numKvHeads, Math.floor(subgroupMinSize / lanes)));
  if (!Number.isInteger(kvPerWorkgroup) || kvPerWorkgroup < 1 || kvPerWorkgroup * lanes > maxInvocations) {
    throw new KernelShapeError(
      'attention',
      `kvHeadsPerWorkgroup must be an integer from 1 to ${Math.floor(maxInvocations / lanes)}, got ${kvPerWorkgroup}`,
    );
  }
  const name = `attention-decode-d${headDim}-h${headBlock}-kv${kvPerWorkgroup}-sg${lanes}-${pool.tag}`;
  const groups = int8Groups(d4, perLane);
  return {
    source: declaredKernel(name, decodeDeclaration(pool, ['subgroups']), subgroupDecodeWgsl(d4, lanes, perLane, headBlock, kvPerWorkgroup)),
    int8Source: groups
      ? declaredKernel(
          `${name}-i8`,
          decodeDeclaration(pool, ['subgroups'], true),
          subgroupDecodeWgsl(d4, lanes, perLane, headBlock, kvPerWorkgroup, groups),
        )
      : undefined,
    kvHeadsPerWorkgroup: kvPerWorkgroup,
  };
}

/** vec4s of a 32-value int8 group. */
const GROUP_VEC4S = 8;

/**
 * How a head's lanes hold its 32-value groups when each lane holds `perLane` adjacent vec4s of
 * it: `lanes` neighbouring lanes to a group (perLane dividing 8), or whole groups in each lane
 * (perLane a multiple of 8); undefined where groups would straddle lanes unevenly or heads.
 */
function int8Groups(d4: number, perLane: number): { lanes: number; perLane: number } | undefined {
  if (d4 % GROUP_VEC4S !== 0) return undefined;
  if (GROUP_VEC4S % perLane === 0) return { lanes: GROUP_VEC4S / perLane, perLane: 1 };
  if (perLane % GROUP_VEC4S === 0) return { lanes: 1, perLane: perLane / GROUP_VEC4S };
  return undefined;
}

/**
 * Head h's normalised output (its lane's vec4s o{h}_v) quantized per 32-value group as
 * quantizeGroupsI8 does: the largest magnitude and the integer sum of a group spread over
 * `groups.lanes` lanes come from xor-shuffles among them (max and integer sums are exact in any
 * order, so the bits are the quantization dispatch's).
 */
function int8Store(h: number, perLane: number, groups: { lanes: number; perLane: number }, col: (v: number) => string): string {
  const per = perLane / groups.perLane;
  const lines: string[] = [];
  for (let g = 0; g < groups.perLane; g++) {
    const vs = Array.from({ length: per }, (_, i) => g * per + i);
    const shuffles = (name: string, op: (a: string, b: string) => string) =>
      Array.from({ length: Math.log2(groups.lanes) }, (_, i) => `${name} = ${op(name, `subgroupShuffleXor(${name}, ${1 << i}u)`)};`);
    lines.push(
      `{`,
      `  var amax = 0.0;`,
      ...vs.map((v) => `  { let a = abs(o${h}_${v}); amax = max(amax, max(max(a.x, a.y), max(a.z, a.w))); }`),
      ...shuffles('amax', (a, b) => `max(${a}, ${b})`).map((l) => `  ${l}`),
      `  let sc = rowScale(amax);`,
      `  var qs = 0;`,
      ...vs.map((v) => `  { let qv = quantize(o${h}_${v}, sc); xq[at * D4 + ${col(v)}] = qv; qs += qv.x + qv.y + qv.z + qv.w; }`),
      ...shuffles('qs', (a, b) => `${a} + ${b}`).map((l) => `  ${l}`),
      `  if (lane % ${groups.lanes}u == 0u) { xg[(at * D4 + ${col(vs[0]!)}) / ${GROUP_VEC4S}u] = vec2<f32>(sc, f32(qs)); }`,
      `}`,
    );
  }
  return lines.map((l) => `        ${l}`).join('\n');
}

/**
 * Sums `values` over groups of `lanes` lanes with subgroup shuffles, halving the values each step
 * while more than one is left (a reduce-scatter: values - 1 shuffles instead of values x
 * log2(lanes)). With values <= lanes one total is left per lane: value h's in lane
 * h * (lanes / values) (and in the lanes that differ from it only in the low bits).
 */
export function reduceScatter(
  values: string[],
  lanes: number,
  indent: string,
): { code: string; total: string } {
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
  kvPerWorkgroup: number,
  int8?: { lanes: number; perLane: number },
): string {
  const owner = (h: number) => h * (lanes / hb);
  const col = (v: number) => `lane * PER_LANE + ${v}u`;
  const heads = Array.from({ length: hb }, (_, h) => h);
  const reg = (i: number) => `${Math.floor(i / perLane)}_${i % perLane}`;
  const reduced = reduceScatter(
    heads.map((h) => `part${h}`),
    lanes,
    '        ',
  );
  return /* wgsl */ `
// Streaming split-K decode on one subgroup (see subgroup-decode.wgsl.ts).
${int8 ? I8_QUANTIZE_WGSL : ''}

const D4 = ${d4}u;
const ROW_LANES = ${lanes}u;
const PER_LANE = ${perLane}u;
const KV_PER_WG = ${kvPerWorkgroup}u;
const HEAD_BLOCK = ${hb}u;
// Initial running max: exp(MASKED - s) is exactly 0 for any finite score s.
const MASKED = -3.0e38;

@compute @workgroup_size(ROW_LANES * KV_PER_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sgLane: u32) {
  let token = params.tokenStart + wid.x;
  let split = wid.z;
  // Every invocation derives the chunk's bounds itself: sharing them would take a barrier.
  let seq = tokenSeqIds[token];
  // Keys 0..pos for the token at pos = ctx - (tokens of the sequence from this one onwards).
  let kvLen = contextLens[seq] - (queryStarts[seq + 1u] - token) + 1u;
  // One chunk: the normalised output directly, with no merge (decided per token, not per batch).
  let direct = kvLen <= params.chunkLen;
  let chunkStart = split * params.chunkLen;
  if (chunkStart >= kvLen) {
    return;
  }
  let chunkEnd = min(chunkStart + params.chunkLen, kvLen);
  let group = params.numHeads / params.numKvHeads;
  // KV_PER_WG KV heads side by side, one segment of ROW_LANES lanes each; a segment streams its
  // head's contiguous blockSize x headDim tile of each block, consecutive keys one row apart.
  // Segments past the last KV head shadow the last one and store nothing.
  let kvHeadLive = (wid.y / params.headChunks) * KV_PER_WG + lid / ROW_LANES;
  let kvHead = min(kvHeadLive, params.numKvHeads - 1u);
  let firstHead = (wid.y % params.headChunks) * params.headsPerWorkgroup;
  let heads = min(params.headsPerWorkgroup, group - firstHead);
  let tableBase = seq * params.maxBlocksPerSeq;
  let qRow = token * params.numHeads + kvHead * group + firstHead;
  // A segment lies within one subgroup; \`segment\` is its first lane there.
  let lane = sgLane % ROW_LANES;
  let segment = sgLane - lane;

  for (var hb = 0u; hb < heads; hb += HEAD_BLOCK) {
    // This lane's columns of each head's query row; heads past the group's end repeat the last
    // head and are not stored.
${unroll(hb * perLane, (i) => `let q${reg(i)} = q[(qRow + min(hb + ${Math.floor(i / perLane)}u, heads - 1u)) * D4 + ${col(i % perLane)}] * params.scale;`, '    ')}
${unroll(hb * perLane, (i) => `var acc${reg(i)} = vec4<f32>(0.0);`, '    ')}
    // Running max and sum of the head whose scores this lane holds.
    var m = MASKED;
    var l = 0.0;
    // The block and the offset in it advance with the keys: a division per key would cost about
    // as much as the key's arithmetic.
    var block = chunkStart / params.blockSize;
    var offset = chunkStart - block * params.blockSize;
    for (var blockStart = chunkStart; blockStart < chunkEnd;) {
      let rows = min(params.blockSize - offset, chunkEnd - blockStart);
      var row = ((blockTables[tableBase + block] * params.numKvHeads + kvHead) * params.blockSize + offset) * D4 + lane * PER_LANE;
      for (var i = 0u; i < rows; i++) {
${unroll(perLane, (v) => `let k${v} = kCacheAt(row + ${v}u);`, '        ')}
${unroll(hb, (h) => `let part${h} = ${Array.from({ length: perLane }, (_, v) => `dot(q${h}_${v}, k${v})`).join(' + ')};`, '        ')}
${reduced.code}
        let s = ${reduced.total};
${onlineSoftmaxStep('        ')}
${unroll(hb, (h) => `let alpha${h} = vec4<f32>(subgroupShuffle(alpha, segment + ${owner(h)}u));`, '        ')}
${unroll(hb, (h) => `let p${h} = vec4<f32>(subgroupShuffle(p, segment + ${owner(h)}u));`, '        ')}
${unroll(perLane, (v) => `let v${v} = vCacheAt(row + ${v}u);`, '        ')}
${unroll(hb * perLane, (i) => `acc${reg(i)} = fma(p${Math.floor(i / perLane)}, v${i % perLane}, acc${reg(i)} * alpha${Math.floor(i / perLane)});`, '        ')}
        row += D4;
      }
      blockStart += rows;
      block += 1u;
      offset = 0u;
    }
${unroll(hb, (h) => `let stats${h} = vec2<f32>(subgroupShuffle(m, segment + ${owner(h)}u), subgroupShuffle(l, segment + ${owner(h)}u));`, '    ')}
${unroll(
  hb,
  (h) => `    if (hb + ${h}u < heads) {
      let at = qRow + hb + ${h}u;
      if (direct) {
${unroll(perLane, (v) => `let o${h}_${v} = acc${h}_${v} / stats${h}.y;\n        out[at * D4 + ${col(v)}] = o${h}_${v};`, '        ')}
${int8 ? int8Store(h, perLane, int8, col) : ''}
      } else {
        let slot = (at - params.tokenStart * params.numHeads) * params.numSplits + split;
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
