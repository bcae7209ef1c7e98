import { elementType, I8_GROUP } from '@llm/quant';
import type { GpuContext } from '../runtime/gpu-context.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { kernelSource } from './kernel-cache.js';
import { uniformWindow } from './uniform-window.js';
import { bindingOffset, bufferOf, requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { KernelShapeError } from '../runtime/errors.js';
import { half, splitNibbles } from './block-repack.js';
import { epilogueKey, type LinearEpilogueVariant } from './linear.wgsl.js';
import type { GpuMatrix } from './matrix.js';
import { PAIR_LANES, pairsKernel, quantizeGroupsKernel, type PairsRope, type PairsShape } from './int8-pairs.wgsl.js';
import { cpuWorkgroup, ELEMENTWISE_WORKGROUP, fixedSubgroupSize, grid1d } from './workgroup-grid.js';

export { PAIR_LANES } from './int8-pairs.wgsl.js';

/** Whether this adapter runs products on int8 activations: subgroups of a fixed size of at least PAIR_LANES. */
export function int8ActivationsSupported(ctx: Pick<GpuContext, 'features' | 'subgroupSize'>): boolean {
  return fixedSubgroupSize(ctx) >= PAIR_LANES;
}

/** The block types a product on int8 activations reads (uploadMatrix's `activations: 'int8'`). */
export const PAIRS_DTYPES = ['q4_0', 'q8_0'] as const;
export type PairsDtype = (typeof PAIRS_DTYPES)[number];

export const isPairsDtype = (dtype: string): dtype is PairsDtype =>
  (PAIRS_DTYPES as readonly string[]).includes(dtype);

/**
 * How each type's values become 4-bit levels: Q4_0's levels (0..15) as stored, standing for level
 * - 8; Q8_0's values plus 128 (0..255), split into a low and a high plane of 4 bits, standing for
 * 16 high + low - 128.
 */
export const PAIRS_FORMAT: Readonly<Record<PairsDtype, { planes: 1 | 2; offset: number }>> = {
  q4_0: { planes: 1, offset: 8 },
  q8_0: { planes: 2, offset: 128 },
};

/**
 * Q4_0 or Q8_0 rows in the pairs layout, for the integer product over int8 activations
 * (pairsKernel): rows (2i, 2i + 1) form pair i (an odd last row pairs with a zero row), pairs in
 * blocks of PAIR_LANES. A unit (a vec4<u32>) holds one 4-bit plane of 16 input features of both
 * rows: word j holds features 4j .. 4j + 3 of the unit's 16, feature 4j + c's level of row A at
 * bits 4c and of row B at bits 16 + 4c. Unit u (features 16u..16u+15) of plane q (PAIRS_FORMAT)
 * of pair p sits at vec4 `((p / L) * U * P + u * P + q) * L + p % L` (U = cols / 16, P planes, L =
 * PAIR_LANES). Scales: groups 4i..4i+3 of pair p in the vec4<u32> `((p / L) * G4 + i) * L + p %
 * L` (G4 = ceil(cols / 128)), row A's f16 scale in the low half of each word. Levels and scales
 * are the GGUF's, bit for bit.
 */
export function repackPairs(
  dtype: PairsDtype,
  src: Uint8Array,
  rows: number,
  cols: number,
): { quants: Uint32Array; scales: Uint32Array } {
  const bytesPerBlock = elementType(dtype).bytesPerBlock;
  const { planes } = PAIRS_FORMAT[dtype];
  const groups = cols / 32;
  const units = (cols / 16) * planes;
  const blocksOfPairs = Math.ceil(Math.ceil(rows / 2) / PAIR_LANES);
  const quants = new Uint32Array(blocksOfPairs * PAIR_LANES * units * 4);
  const groups4 = Math.ceil(groups / 4);
  const scales = new Uint32Array(blocksOfPairs * PAIR_LANES * groups4 * 4);
  // levels[(plane * 2 + row) * 32 + feature] of the group at hand.
  const levels = new Uint8Array(planes * 2 * 32);
  for (let p = 0; p < Math.ceil(rows / 2); p++) {
    const unitBase = Math.floor(p / PAIR_LANES) * units * PAIR_LANES + (p % PAIR_LANES);
    const scaleBase = Math.floor(p / PAIR_LANES) * groups4 * PAIR_LANES + (p % PAIR_LANES);
    for (let g = 0; g < groups; g++) {
      let scaleWord = 0;
      levels.fill(0);
      for (let r = 0; r < 2; r++) {
        const row = 2 * p + r;
        if (row >= rows) continue;
        const at = (row * groups + g) * bytesPerBlock;
        scaleWord |= half(src, at) << (16 * r);
        if (dtype === 'q4_0') {
          splitNibbles(src, at + 2, levels.subarray(r * 32, r * 32 + 32));
          continue;
        }
        for (let f = 0; f < 32; f++) {
          const level = src[at + 2 + f]! ^ 0x80;
          levels[r * 32 + f] = level & 0xf;
          levels[(2 + r) * 32 + f] = level >> 4;
        }
      }
      scales[(scaleBase + Math.floor(g / 4) * PAIR_LANES) * 4 + (g % 4)] = scaleWord >>> 0;
      for (let h = 0; h < 2; h++) {
        for (let q = 0; q < planes; q++) {
          const unit = (unitBase + ((2 * g + h) * planes + q) * PAIR_LANES) * 4;
          for (let j = 0; j < 4; j++) {
            let word = 0;
            for (let c = 0; c < 4; c++) {
              const f = 16 * h + 4 * j + c;
              word |= (levels[q * 64 + f]! << (4 * c)) | (levels[q * 64 + 32 + f]! << (16 + 4 * c));
            }
            quants[unit + j] = word >>> 0;
          }
        }
      }
    }
  }
  return { quants, scales };
}

/** Most tokens per pass of the pairs product: a pass's int8 x fills the scratch buffers at once. */
const PAIRS_PASS_TOKENS = 256;

/**
 * Tokens and row pairs per invocation of the pairs product of m tokens, and how it sums a group.
 * Decode (1-2 tokens): a pair per invocation, integer sums. More tokens: 2 pairs per invocation
 * share each weight word among 4 tokens (Q4_0, integer sums) or 8 (Q8_0, f32 sums:
 * `floatSums`). Q8_0's two planes cost the integer path twice Q4_0's multiply-adds per weight;
 * summed in f32 from 8-bit levels it ran 1.2-1.4x faster (lavapipe, 128 tokens, 2304 x 768 and
 * 768 x 2048: 31-35 against 22-29 GFLOP/s), where Q4_0 ran slower (38-41 against 48-51).
 */
function pairsShape(dtype: PairsDtype, m: number): { tokens: number; pairs: number; floatSums: boolean } {
  if (m <= 2) return { tokens: m, pairs: 1, floatSums: false };
  return dtype === 'q8_0' ? { tokens: 8, pairs: 2, floatSums: true } : { tokens: 4, pairs: 2, floatSums: false };
}

/**
 * x quantized to int8 per 32-value group, as a product over int8 activations reads it: `xq` the
 * integers as i32 [tokens, K], `xg` (scale, sum of the group's integers) as f32 pairs
 * [tokens * K / 32] (rmsNorm's `int8` output).
 */
export interface Int8Activations {
  xq: BufferBindingLike;
  xg: BufferBindingLike;
  /**
   * The values are an RMSNorm's input times its weight, the norm's scale deferred (rmsNorm's
   * `int8`, linear's `normOut`): `sums` holds each group's sum of squares of the input (f32
   * [tokens * K / 32]) and the product multiplies each token's output by
   * inverseSqrt(Σ sums / K + eps).
   */
  norm?: { sums: BufferBindingLike; eps: number } | undefined;
}

/**
 * An RMSNorm's input written for a product over int8 activations (rmsNorm's `int8`, linear's
 * `normOut.out`): the input times the norm's weight quantized per 32-value group (`xq`, `xg`) and
 * each group's sum of squares of the input in one fixed order (`sums`, f32 [tokens * K / 32]).
 */
export interface NormInt8Output {
  xq: BufferBindingLike;
  xg: BufferBindingLike;
  sums: BufferBindingLike;
}

/** Throws a KernelShapeError unless `a` holds the int8 activations of `tokens` rows of `k` values. */
export function requireInt8Activations(
  kernel: string,
  name: string,
  a: Int8Activations | NormInt8Output,
  tokens: number,
  k: number,
): void {
  requireBytes(kernel, `${name}.xq`, a.xq, tokens * k * 4);
  requireBytes(kernel, `${name}.xg`, a.xg, (tokens * k * 8) / I8_GROUP);
  const sums = 'sums' in a ? a.sums : a.norm?.sums;
  if (sums) requireBytes(kernel, `${name}.sums`, sums, (tokens * k * 4) / I8_GROUP);
  if ('norm' in a && a.norm && !(a.norm.eps >= 0)) {
    throw new KernelShapeError(kernel, `${name}.norm.eps must be >= 0, got ${a.norm.eps}`);
  }
}

/**
 * Whether a pairs product of m tokens writes the glu output's int8 copy from its own stores: Q4_0,
 * one or two tokens, parts of whole blocks of 32 row pairs, which 8 lanes of 4 pairs hold (32
 * outputs, one 32-value group). Q8_0's two planes at 4 pairs a lane made its glu product 14 %
 * slower, more than the dispatch saves (110M decode on lavapipe); Q4_0's ran 9 % faster.
 */
export function pairsWritesInt8(ctx: Pick<GpuContext, 'features' | 'subgroupSize'>, w: GpuMatrix, m: number): boolean {
  return pairsInBlocks(ctx, w, m, 'q4_0', 2 * I8_GROUP);
}

/**
 * Row pairs per invocation of a residual pairs product of m tokens that writes the next norm's
 * int8 input from its own stores (`normOut`), or 0 where an rmsNorm dispatch follows it. 8 lanes
 * hold whole 32-value groups of the output: Q4_0 4 pairs a lane (64 rows, two groups), Q8_0 2
 * (32 rows, one group). Q8_0 at 4 pairs a lane ran slower than the dispatches saved (110M decode
 * on lavapipe, ms a token, min / p10 of 20 alternations: 20.2 / 20.6 against 19.0 / 19.7 with
 * the norm dispatches); at 2 pairs faster (18.0 / 18.6).
 */
export function pairsNormOutPairs(ctx: Pick<GpuContext, 'features' | 'subgroupSize'>, w: GpuMatrix, m: number): 0 | 2 | 4 {
  if (pairsInBlocks(ctx, w, m, 'q4_0', 2 * I8_GROUP)) return 4;
  return pairsInBlocks(ctx, w, m, 'q8_0', I8_GROUP) ? 2 : 0;
}

/** Every part of w of one pairs type `dtype`, in whole blocks of `rows` rows; one or two tokens. */
function pairsInBlocks(
  ctx: Pick<GpuContext, 'features' | 'subgroupSize'>,
  w: GpuMatrix,
  m: number,
  dtype: PairsDtype,
  rows: number,
): boolean {
  return (
    w.parts.every((p) => p.pairs && p.dtype === dtype && p.rowStart % rows === 0 && p.rows % rows === 0) &&
    m <= 2 &&
    int8ActivationsSupported(ctx)
  );
}

/** The rope epilogue of one pairs product: its variant, params and buffers (from rope's checks). */
export interface PairsRopeCall {
  variant: PairsRope;
  params: Record<'head_dim' | 'num_kv_heads' | 'log2_theta' | 'position_scale' | 'num_slots' | 'block_size', number>;
  buffers: Record<'positions' | 'slots' | 'k_cache' | 'v_cache', BufferBindingLike> & { freq_factors?: BufferBindingLike | undefined };
}

const NO_ROPE_PARAMS: PairsRopeCall['params'] = { head_dim: 0, num_kv_heads: 0, log2_theta: 0, position_scale: 0, num_slots: 0, block_size: 0 };

/** A checked `linear` call over a pairs-layout matrix (linear.ts validates the arguments). */
export interface PairsProduct {
  x: BufferBindingLike;
  m: number;
  w: GpuMatrix;
  dtype: PairsDtype;
  variant: LinearEpilogueVariant;
  outStride: number;
  split: number;
  /** x already quantized (rmsNorm's int8 output): no quantization dispatch. */
  int8X?: Int8Activations | undefined;
  /** Also write the (glu) output quantized to int8 per 32-value group: the next product's int8X. */
  int8Out?: Int8Activations | undefined;
  /** The split Q|K|V product's rotary embedding and KV-cache write, in its stores (PairsRope). */
  rope?: PairsRopeCall | undefined;
  /** The next RMSNorm's int8 input from the product's stores, `pairs` a lane (pairsNormOutPairs). */
  normOut?: { weight: BufferBindingLike; out: NormInt8Output; pairs: 2 | 4 } | undefined;
  outputs: { out: BufferBindingLike } & Partial<
    Record<'out2' | 'bias' | 'residual', BufferBindingLike | undefined>
  >;
}

/**
 * Tokens per uniform window of the several-token product: the most whose int8 x fit one uniform
 * binding, a multiple of its `step` tokens per step; 0 (x from storage) where fewer than 8 fit.
 * lavapipe reads a uniform with one gather for all lanes and storage lane by lane: at 128 tokens
 * windows of 16 (K = 768) and 8 (K = 2048) ran the product 1.4-1.9x faster than storage.
 */
function windowTokens(ctx: GpuContext, k: number, step: number): number {
  const fit = Math.floor(ctx.limits.maxUniformBufferBindingSize / (k * 4));
  const tokens = fit - (fit % step);
  return tokens >= 8 ? tokens : 0;
}

/**
 * `linear` over a matrix in the pairs layout (Q4_0 or Q8_0, every part one type): x quantized per 32-value group into scratch
 * buffers (unless given as `int8X`), then the integer product for each part, in passes of up to
 * PAIRS_PASS_TOKENS tokens, each read through uniform windows where the device binds them.
 */
export function linearPairs(rec: StepRecorder, a: PairsProduct): void {
  const ctx = rec.ctx;
  const k = a.w.cols;
  const groupsPerToken = k / I8_GROUP;
  const subgroup = fixedSubgroupSize(ctx);
  const variantKey = `${a.dtype}${epilogueKey(a.variant)}`;
  const given = a.int8X && { xq: bound(a.int8X.xq), xg: bound(a.int8X.xg) };
  // Room past the last pass for a whole last window.
  const slack = ctx.limits.maxUniformBufferBindingSize;
  const held = given ?? {
    xq: { buffer: ctx.scratch('int8 activations', PAIRS_PASS_TOKENS * k * 4 + slack), offset: 0 },
    // (scale, sum) pairs, in whole vec4s.
    xg: {
      buffer: ctx.scratch('int8 activation scales', PAIRS_PASS_TOKENS * groupsPerToken * 8 + 16 + slack / 16),
      offset: 0,
    },
  };
  const x = bound(a.x);
  const xgBytes = (tokens: number) => Math.ceil((tokens * groupsPerToken) / 2) * 16;
  for (let t0 = 0; t0 < a.m; t0 += PAIRS_PASS_TOKENS) {
    const tokens = Math.min(PAIRS_PASS_TOKENS, a.m - t0);
    const groups = tokens * groupsPerToken;
    // A pass's rows of the given buffers, or the scratch buffers from 0.
    const xq = { buffer: held.xq.buffer, offset: held.xq.offset + (given ? t0 * k * 4 : 0) };
    const xg = { buffer: held.xg.buffer, offset: held.xg.offset + (given ? t0 * groupsPerToken * 8 : 0) };
    if (!given) {
      quantizeGroups(rec, groups, { buffer: x.buffer, offset: x.offset + t0 * k * 4 }, xq, { ...xg, size: xgBytes(tokens) });
    }
    // The pass's tokens in uniform windows (decode: one of its 1-2 tokens), each bound whole, or
    // where a window cannot be (too large, unaligned, past the buffer) all of them from storage.
    const base = pairsShape(a.dtype, tokens);
    const window = tokens <= 2 ? tokens : windowTokens(ctx, k, base.tokens);
    const windows: { w0: number; xq: GPUBufferBinding; xg: GPUBufferBinding }[] = [];
    for (let w0 = 0; window > 0 && w0 < tokens; w0 += window) {
      const q = uniformWindow(ctx, xq)?.(w0 * k * 4, window * k * 4);
      const g = uniformWindow(ctx, xg)?.(w0 * groupsPerToken * 8, xgBytes(window));
      if (!q || !g) {
        windows.length = 0;
        break;
      }
      windows.push({ w0, xq: q, xg: g });
    }
    const dispatches =
      windows.length > 0
        ? windows.map((w) => ({ ...w, tokens: Math.min(window, tokens - w.w0), uniformTokens: window }))
        : [
            {
              w0: 0,
              tokens,
              uniformTokens: undefined,
              xq: { ...xq, size: groups * 32 * 4 },
              xg: { ...xg, size: xgBytes(tokens) },
            },
          ];
    const normX = given !== undefined && a.int8X?.norm !== undefined;
    const normOut = a.normOut;
    // One or two tokens of Q4_0 write the glu output's int8 copy themselves (pairsWritesInt8).
    const fuseOut = a.int8Out !== undefined && pairsWritesInt8(ctx, a.w, tokens);
    const blockPairs = fuseOut ? 4 : (normOut?.pairs ?? 0);
    for (const d of dispatches) {
      for (const part of a.w.parts) {
        const pairs = Math.ceil(part.rows / 2);
        const perInvocation = blockPairs > 0 ? { tokens, pairs: blockPairs } : { tokens: base.tokens, pairs: base.pairs };
        const shape: PairsShape = {
          ...perInvocation,
          workgroup: cpuWorkgroup(Math.ceil(pairs / perInvocation.pairs), subgroup),
          ...(d.uniformTokens ? { uniformTokens: d.uniformTokens, k } : {}),
        };
        const rope = a.rope?.variant;
        const ropeKey = rope ? `/rope${rope.freqFactors ? '+factors' : ''}-${rope.kvDtype}` : '';
        const normKey = `${normX ? '/normx' : ''}${normOut ? '/normout' : ''}`;
        const kernel = kernelSource(
          'linear-int8-pairs',
          `${variantKey}/t${shape.tokens}p${shape.pairs}w${shape.workgroup}${d.uniformTokens ? `u${d.uniformTokens}k${k}` : ''}${fuseOut ? '/i8out' : ''}${ropeKey}${normKey}${base.floatSums ? '/f32sums' : ''}`,
          () => pairsKernel(a.variant, shape, PAIRS_FORMAT[a.dtype], { int8Out: fuseOut, rope, normX, normOut: normOut !== undefined, floatSums: base.floatSums }),
        );
        const params = {
          k,
          row_stride: a.w.rowStride,
          n_count: part.rows,
          n_start: part.rowStart,
          out_stride: a.outStride,
          t0: t0 + d.w0,
          tokens: d.tokens,
          split: a.split,
          eps: a.int8X?.norm?.eps ?? 0,
          ...(a.rope?.params ?? NO_ROPE_PARAMS),
        };
        const int8Out = fuseOut ? { hq: a.int8Out!.xq, hg: a.int8Out!.xg } : {};
        const norm = {
          xn: normX ? a.int8X!.norm!.sums : undefined,
          ...(normOut ? { nw: normOut.weight, nq: normOut.out.xq, ng: normOut.out.xg, nn: normOut.out.sums } : {}),
        };
        rec.dispatchKernel(
          kernel,
          params,
          { xq: d.xq, xg: d.xg, w: part.buffer, w_scales: part.scales!, ...a.outputs, ...int8Out, ...a.rope?.buffers, ...norm },
          [Math.ceil(pairs / (shape.pairs * shape.workgroup))],
        );
      }
    }
    if (a.int8Out && !fuseOut) quantizeOutput(rec, a, t0, tokens);
  }
}

const bound = (b: BufferBindingLike) => ({ buffer: bufferOf(b), offset: bindingOffset(b) });

export interface QuantizeGroupsI8Args {
  /** f32 [tokens, k]. */
  x: BufferBindingLike;
  /** Where the int8 values and (scale, sum) of each 32-value group go: a product's `int8X`. */
  out: Int8Activations;
  tokens: number;
  /** Values per token, a multiple of 32. */
  k: number;
}

/**
 * x quantized to int8 per 32-value group, as @llm/quant's quantizeGroupsI8 does, bit for bit: the
 * input a product over int8 activations takes as `int8X`, for a kernel whose output cannot write
 * it itself.
 */
export function quantizeGroupsI8(rec: StepRecorder, a: QuantizeGroupsI8Args): void {
  const name = 'quantizeGroupsI8';
  requireInt(name, 'tokens', a.tokens, 1);
  requireInt(name, 'k', a.k, I8_GROUP);
  if (a.k % I8_GROUP !== 0) throw new KernelShapeError(name, `k must be a multiple of ${I8_GROUP}, got ${a.k}`);
  requireBytes(name, 'x', a.x, a.tokens * a.k * 4);
  requireInt8Activations(name, 'out', a.out, a.tokens, a.k);
  requireDistinct(name, a.out.xq, { x: a.x });
  requireDistinct(name, a.out.xg, { x: a.x, 'out.xq': a.out.xq });
  const groups = (a.tokens * a.k) / I8_GROUP;
  const xg = bound(a.out.xg);
  quantizeGroups(rec, groups, bound(a.x), bound(a.out.xq), { ...xg, size: groups * 8 });
}

/**
 * `groups` groups of 32 values from `x` quantized into `xq` (and their (scale, sum) into `xg`,
 * `xg.size` bytes bound) by quantizeGroupsKernel.
 */
function quantizeGroups(
  rec: StepRecorder,
  groups: number,
  x: { buffer: GPUBuffer; offset: number },
  xq: { buffer: GPUBuffer; offset: number },
  xg: GPUBufferBinding,
): void {
  rec.dispatchKernel(
    kernelSource('quantize-groups-i8', '', quantizeGroupsKernel),
    { groups },
    { x: { ...x, size: groups * 32 * 4 }, xq: { ...xq, size: groups * 32 * 4 }, xg },
    grid1d(Math.ceil(groups / ELEMENTWISE_WORKGROUP), rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}

/** The pass's output rows quantized by a dispatch of their own into `int8Out` (int8Out's fallback). */
function quantizeOutput(rec: StepRecorder, a: PairsProduct, t0: number, tokens: number): void {
  const width = a.outStride;
  const groups = (tokens * width) / I8_GROUP;
  const out = bound(a.outputs.out);
  const xq = bound(a.int8Out!.xq);
  const xg = bound(a.int8Out!.xg);
  quantizeGroups(
    rec,
    groups,
    { buffer: out.buffer, offset: out.offset + t0 * width * 4 },
    { buffer: xq.buffer, offset: xq.offset + t0 * width * 4 },
    { buffer: xg.buffer, offset: xg.offset + (t0 * width * 8) / I8_GROUP, size: groups * 8 },
  );
}
