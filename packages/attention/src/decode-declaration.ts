import { declareKernel } from '@llm/kernels';
import type { DeclaredKernel, StorageFormat } from '@llm/kernels';
import { pagedInputBindings } from './paged-bindings.js';

/**
 * What the decode kernels share: their params and bindings (the merge kernel takes the same
 * params), and the portable kernel's walk over a chunk's keys block by block (the subgroup kernel
 * advances its block and offset with the keys instead: no division in its key loop).
 */

export const DECODE_PARAMS = {
  // The dispatch's tokens: [tokenStart, tokenStart + numTokens) of the batch, one per workgroup
  // along x. Split partials are indexed from tokenStart.
  tokenStart: 'u32',
  numTokens: 'u32',
  maxBlocksPerSeq: 'u32',
  chunkLen: 'u32',
  numSplits: 'u32',
  numHeads: 'u32',
  numKvHeads: 'u32',
  headsPerWorkgroup: 'u32',
  headChunks: 'u32',
  blockSize: 'u32',
  headDim4: 'u32',
  scale: 'f32',
} as const;

function decodeBindings(pool: StorageFormat, int8: boolean) {
  return {
    ...pagedInputBindings(pool),
    tokenSeqIds: { access: 'read', type: 'u32' },
    out: { access: 'read_write', type: 'vec4<f32>' },
    // [numTokens, numHeads, numSplits, D4] unnormalised sums and [.., numSplits] (max, sum) of the
    // dispatch's tokens that have several splits; a token whose keys fit one chunk writes its
    // normalised output to `out` instead, whatever the other tokens of the batch need.
    partialAcc: { access: 'read_write', type: 'vec4<f32>' },
    partialStats: { access: 'read_write', type: 'vec2<f32>' },
    // With int8 output: `out` also quantized per 32-value group (quantizeGroupsI8's layout).
    xq: { access: 'read_write', type: 'vec4<i32>', present: int8 },
    xg: { access: 'read_write', type: 'vec2<f32>', present: int8 },
  } as const;
}

/**
 * The decode kernels' declaration; `enable` adds WGSL extensions the kernel body needs, `int8`
 * the bindings of the quantized output.
 */
export function decodeDeclaration(pool: StorageFormat, enable: string[] = [], int8 = false) {
  return declareKernel({ name: 'attention', params: DECODE_PARAMS, bindings: decodeBindings(pool, int8), enable });
}

export type DecodeKernel = DeclaredKernel<typeof DECODE_PARAMS, ReturnType<typeof decodeBindings>>;

export const MERGE_DECLARATION = declareKernel({
  name: 'attention',
  params: DECODE_PARAMS,
  bindings: {
    partialAcc: { access: 'read', type: 'vec4<f32>' },
    partialStats: { access: 'read', type: 'vec2<f32>' },
    queryStarts: { access: 'read', type: 'u32' },
    contextLens: { access: 'read', type: 'u32' },
    tokenSeqIds: { access: 'read', type: 'u32' },
    out: { access: 'read_write', type: 'vec4<f32>' },
  },
});

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
