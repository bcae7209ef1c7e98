import type { KvPoolFormat } from '@llm/kernels';
import { pagedInputBindings } from './paged-bindings.wgsl.js';

/**
 * What the decode kernels share: their params struct and bindings (attention.ts binds them in
 * this order), and the portable kernel's walk over a chunk's keys block by block (the subgroup
 * kernel advances its block and offset with the keys instead: no division in its key loop).
 */

/** Params struct of the decode kernels, u32 fields in this order, then `scale: f32`. */
export const DECODE_PARAMS_U32 = [
  'numTokens',
  'maxBlocksPerSeq',
  'chunkLen',
  'numSplits',
  'numHeads',
  'numKvHeads',
  'headsPerWorkgroup',
  'headChunks',
  'blockSize',
  'headDim4',
  // 1: a single split, write the normalised output; 0: write split partials.
  'direct',
] as const;

export const DECODE_PARAMS_STRUCT = /* wgsl */ `struct Params {
${DECODE_PARAMS_U32.map((n) => `  ${n}: u32,`).join('\n')}
  scale: f32,
}`;

/** The decode kernels' bindings (needs the params struct before it). */
export function decodeBindings(pool: KvPoolFormat): string {
  return /* wgsl */ `${pagedInputBindings(pool)}
@group(0) @binding(7) var<storage, read> tokenSeqIds: array<u32>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;
// [numTokens, numHeads, numSplits, D4] unnormalised sums and [.., numSplits] (max, sum).
@group(0) @binding(9) var<storage, read_write> partialAcc: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> partialStats: array<vec2<f32>>;
`;
}

/** Needs `params`, `blockTables` and the constant `D4` in the module. */
export const DECODE_BLOCK_WALK = /* wgsl */ `// Keys are visited block by block, so the block table is read (and a position divided by the
// block size) once per block, not once per key. The pool holds each (block, KV head) as one
// contiguous blockSize x headDim tile: rowShift + kvHead * blockSize + j is the row of position j
// of the current block (u32 wrap-around cancels the subtraction of the block's first position).
var<private> rowShift: u32;

// Looks up the block holding position \`start\` and returns the end of its run of positions
// (the block's end or \`end\`, whichever comes first).
fn blockRun(tableBase: u32, start: u32, end: u32) -> u32 {
  let block = start / params.blockSize;
  let first = block * params.blockSize;
  rowShift = blockTables[tableBase + block] * params.numKvHeads * params.blockSize - first;
  return min(first + params.blockSize, end);
}

// vec4 index of the row of position j (in the current block) and KV head kvHead in the pool.
fn kvRow(j: u32, kvHead: u32) -> u32 {
  return (rowShift + kvHead * params.blockSize + j) * D4;
}`;
