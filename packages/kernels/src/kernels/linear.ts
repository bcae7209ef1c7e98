import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import {
  isPairsDtype,
  linearPairs,
  pairsNormOutPairs,
  requireInt8Activations,
  type Int8Activations,
  type NormInt8Output,
  type PairsProduct,
  type PairsRopeCall,
} from './int8-pairs.js';
import { rmsNorm } from './rms-norm.js';
import { I8_GROUP } from '@llm/quant';
import { checkedRope, rope, type RopeArgs, type RopeKvWrite } from './rope.js';
import { uniformWindow } from './uniform-window.js';
import { cpuWorkgroup, fixedSubgroupSize } from './workgroup-grid.js';
import {
  epilogueKey,
  MATMUL_TILE_COLS,
  MATMUL_TILE_ROWS,
  matmulKernel,
  reduceMatvecKernel,
  streamMatvecKernel,
  tileMatvecKernel,
} from './linear.wgsl.js';
import type { LinearEpilogue, LinearKernel, LinearVariant, ReduceShape, StreamShape, TileShape } from './linear.wgsl.js';
import type { GpuMatrix, GpuMatrixPart } from './matrix.js';
import { storageFormat } from './storage-format.js';

export interface LinearArgs {
  /** f32 [m, K]. */
  x: BufferBindingLike;
  /** Weight [N, K] (PyTorch layout), from uploadMatrix. */
  w: GpuMatrix;
  /** f32 [m, N]; must not be the same buffer as x, bias or residual. */
  out: BufferBindingLike;
  m: number;
  /** f32 [N], added to every row. */
  bias?: BufferBindingLike | undefined;
  /** f32 [m, N], added to the result (a separate buffer from out). */
  residual?: BufferBindingLike | undefined;
  /**
   * One product, two outputs: features [0, split.at) go to out as [m, at], the rest to split.out
   * as [m, N - at] (Q and K|V from one fused weight, say). Not with residual.
   */
  split?: { at: number; out: BufferBindingLike } | undefined;
  /**
   * The weight's rows are (gate_i, up_i) pairs, interleaved: out is [m, N / 2] with
   * out[t, i] = silu(gate_i) * up_i (a SwiGLU feed-forward's first product). Not with bias or
   * residual.
   */
  glu?: boolean | undefined;
  /**
   * Which kernel runs; by default chosen for the adapter and the shape (see linearKernelFor).
   * 'stream' needs a fixed subgroup size S and K % 4S == 0.
   */
  kernel?: LinearKernelKind | undefined;
  /**
   * Choose the kernel (when `kernel` is not given) so that every token's output has the same
   * bits for any m: on GPUs 'reduce' for every m instead of 'matmul' above MATVEC_MAX_ROWS
   * tokens. Changes nothing on CPU adapters, whose default is already batch-invariant.
   */
  batchInvariant?: boolean | undefined;
  /**
   * x already quantized to int8 per 32-value group (rmsNorm's `int8` output), for a matrix
   * uploaded with `activations: 'int8'`, which then skips quantizing x; other matrices ignore it.
   */
  int8X?: Int8Activations | undefined;
  /**
   * Also write out quantized to int8 per 32-value group, as @llm/quant's quantizeGroupsI8 does
   * (the next product's `int8X`): a matrix uploaded with `activations: 'int8'` and the `glu`
   * epilogue only. One or two tokens write it from the product itself; more, a dispatch of its own.
   */
  int8Out?: Int8Activations | undefined;
  /**
   * A Q|K|V product (`split` at numHeads x headDim, K|V rows after it): also rotate Q and K by
   * their tokens' positions and write K and V into the paged pool, as `rope` with kvWrite does
   * after the product (out then holds rotated Q, split.out rotated K and V). A matrix over int8
   * activations does it in its own stores ('adjacent' pairs, an f32 or f16 pool): one dispatch;
   * otherwise `rope` runs after the product.
   */
  rope?: LinearRope | undefined;
  /**
   * A residual product whose output feeds an RMSNorm (weight, eps) and then a product over int8
   * activations: also write that norm's int8 input (`out`, as rmsNorm's `int8` writes it; the
   * next product takes `{ xq, xg, norm: { sums, eps } }` as int8X). A Q4_0 or Q8_0 matrix over
   * int8 activations writes it from its own stores for one or two tokens (pairsNormOutPairs);
   * otherwise an rmsNorm dispatch follows the product.
   */
  normOut?: { weight: BufferBindingLike; eps: number; out: NormInt8Output } | undefined;
  /** Rows and tokens per invocation of the 'stream' kernel; by default tuned for the dtype. */
  streamShape?: Pick<StreamShape, 'rows' | 'tokens'> | undefined;
  /**
   * Read f16 weights as native f16 (needs shader-f16) rather than unpacking u32 pairs, in the
   * 'reduce' and 'matmul' kernels ('stream' always unpacks 8 halves from a vec4<u32>). By default
   * native with shader-f16.
   */
  f16Native?: boolean | undefined;
}

/**
 * 'stream': an invocation streams whole weight rows, x shared through subgroup broadcasts (CPU
 * adapters, one or two tokens); 'tile': 4 rows x 4-8 tokens per invocation in 4x4 weight blocks
 * (CPU adapters, more tokens); 'reduce': a workgroup per row with a workgroup-memory reduction
 * (GPUs, and any shape); 'matmul': workgroup-memory tiles for many tokens (GPU prefill).
 */
export type LinearKernelKind = 'stream' | 'tile' | 'reduce' | 'matmul';

/** Tokens handled by the matvec kernels in one pass over the weights. */
export const MATVEC_MAX_ROWS = 8;

// Token counts compiled for the matvec kernels: m rounds up to the next, which bounds the number
// of pipelines (each costs a shader compile) at a small cost for the padding tokens.
function matvecTokens(m: number, max: number): number {
  for (const t of [1, 2, 4, 8]) if (m <= t && t <= max) return t;
  return max;
}

/** What the kernel choice depends on: a GpuContext, or a description of another adapter. */
export type LinearAdapter = Pick<GpuContext, 'isCpuAdapter' | 'features' | 'subgroupSize'>;

/**
 * Fixed subgroup size when the 'stream' kernel can run for K input features, else 0. Over block
 * formats a step of 4 * size features must also be whole 32-element groups.
 */
function streamSubgroup(ctx: LinearAdapter, k: number, blocks = false): number {
  const size = fixedSubgroupSize(ctx);
  if (size === 0) return 0;
  if (blocks && (4 * size) % 32 !== 0) return 0;
  return k % (4 * size) === 0 ? size : 0;
}

/**
 * The kernel `linear` runs by default for m tokens of a [N, K] weight on this adapter. Every
 * kernel sums a given output in an order of its own that does not depend on m, the pass or the
 * token's row; the CPU adapters' pair (stream, tile) shares one order, so only the GPU choice
 * between 'reduce' and 'matmul' changes a token's bits with m, unless `batchInvariant` is set.
 */
export function linearKernelFor(
  ctx: LinearAdapter,
  k: number,
  m: number,
  opts: { batchInvariant?: boolean | undefined; blocks?: boolean | undefined } = {},
): LinearKernelKind {
  // Measured on lavapipe (2 cores, f16 2304x768): stream reads a single token's weights at about
  // twice tile's speed; at 128 tokens tile computes 3x faster (10.8 vs 3-6 GFLOP/s).
  if (ctx.isCpuAdapter) return streamSubgroup(ctx, k, opts.blocks) === 0 ? 'reduce' : m <= 2 ? 'stream' : 'tile';
  return m <= MATVEC_MAX_ROWS || opts.batchInvariant ? 'reduce' : 'matmul';
}

/**
 * Rows and tokens per invocation of the stream kernel (lavapipe, 2 cores, 110M/1.1B shapes):
 * one row per invocation (two for glu pairs) keeps the accumulators and x registers from spilling.
 */
function defaultStreamShape(m: number, glu: boolean): Pick<StreamShape, 'rows' | 'tokens'> {
  return { rows: glu ? 2 : 1, tokens: matvecTokens(m, 2) };
}

/**
 * Most tokens of x in one uniform window of the tile kernel (4 blocks of 16). A buffer of x with
 * this many rows of room past its last token lets every pass read its window; a pass without the
 * room reads x from storage, which is another pipeline to compile.
 */
export const LINEAR_X_SLACK_TOKENS = 64;

/**
 * Tokens per invocation of the tile kernel for m tokens of K features, and the tokens of its x
 * windows when x is read from uniform bindings (undefined: x from storage, all tokens in one
 * pass). Every weight load feeds 4 multiply-adds per token, so blocks of more tokens do more per
 * load: at 48 tokens 16 ran 1.2-1.5x the FLOP rate of 8 (lavapipe, 32000x288 and 768x768).
 *
 * x from a uniform window ran the kernel 1.16-1.48x faster than from storage at 32-512 tokens
 * (lavapipe, 2 cores: f32 1536x288, 288x768, 768x288, 2304x768, f16 2304x768; the LM head
 * 32000x288 1.0-1.33x), since lavapipe loads storage lane by lane with a bounds check per
 * component; at 8-16 tokens of the LM head the two stayed within the machine's noise. A window holds a pass's tokens; one size per K (whole
 * blocks, up to 4 of them) keeps it to one pipeline per shape. Each pass reads the weights again:
 * where fewer than 16 tokens fit 64 KiB (K > 1024), or past 64 MiB of weights read in all (f32
 * 2304x768 at 512 tokens in passes of 16), that cost more than the uniform saved; from the caches
 * (768x288 at 512 tokens) it did not. Blocks of 32 tokens, or 8 rows per invocation, were no
 * faster with a uniform x and took 2-6x as long to compile (2.5 and 7.3 s against 1.2 on
 * lavapipe).
 */
function tileShape(
  m: number,
  k: number,
  weightBytes: number,
  xUniform: boolean,
  maxUniformBytes: number,
): { tokens: number; windowTokens?: number } {
  const tokens = m <= 4 ? 4 : m <= 8 ? 8 : 16;
  const fit = xUniform ? Math.floor(maxUniformBytes / (k * 4)) : 0;
  const windowTokens = Math.min(Math.floor(fit / tokens), LINEAR_X_SLACK_TOKENS / tokens) * tokens;
  if (fit < 16 || Math.ceil(m / windowTokens) * weightBytes > 64 * 2 ** 20) return { tokens };
  return { tokens, windowTokens };
}

// Invocations per workgroup of the reduce kernel: 64 stride over K while many workgroups fill a GPU.
const REDUCE_WORKGROUP = 64;

/** Params of one weight part's dispatch over tokens [t0, t0 + tokens), less `split`. */
function partParams(w: GpuMatrix, part: GpuMatrixPart, outStride: number, t0: number, tokens: number) {
  return {
    k: w.cols,
    row_stride: w.rowStride,
    n_count: part.rows,
    n_start: part.rowStart,
    out_stride: outStride,
    t0,
    tokens,
  };
}

/** What a product writes: out (and split.out), bias and residual, as `linear` and `linearI8` take them. */
export type LinearOutputArgs = Pick<LinearArgs, 'out' | 'bias' | 'residual' | 'split' | 'glu'>;

/**
 * Checks a product's epilogue and output buffers for `rows` weight rows and m tokens (`reads`:
 * the inputs out must not alias); returns the epilogue and out's row stride.
 */
export function checkEpilogue(
  name: string,
  rows: number,
  m: number,
  a: LinearOutputArgs,
  reads: Record<string, BufferBindingLike>,
): { epilogue: LinearEpilogue; outStride: number } {
  const epilogue = a.glu ? 'glu' : a.split ? 'split' : 'store';
  let outStride = rows;
  if (a.glu) {
    if (rows % 2 !== 0 || a.bias || a.residual || a.split) {
      throw new KernelShapeError(name, `glu needs an even number of weight rows (got ${rows}) and no bias, residual or split`);
    }
    outStride = rows / 2;
    requireBytes(name, 'out', a.out, m * outStride * 4);
  } else if (a.split) {
    const at = a.split.at;
    if (!Number.isInteger(at) || at < 1 || at >= rows || a.residual) {
      throw new KernelShapeError(name, `split.at must be an integer in [1, ${rows}) and comes without residual, got ${at}`);
    }
    requireBytes(name, 'out', a.out, m * at * 4);
    requireBytes(name, 'split.out', a.split.out, m * (rows - at) * 4);
  } else {
    requireBytes(name, 'out', a.out, m * rows * 4);
  }
  if (a.bias) requireBytes(name, 'bias', a.bias, rows * 4);
  if (a.residual) requireBytes(name, 'residual', a.residual, m * rows * 4);
  requireDistinct(name, a.out, { ...reads, bias: a.bias, residual: a.residual, split: a.split?.out });
  return { epilogue, outStride };
}

/** LinearArgs.rope: rope's arguments less those the product gives (q, k, V and the tokens). */
export type LinearRope = Omit<RopeArgs, 'q' | 'k' | 'tokens' | 'qStride' | 'qOffset' | 'kStride' | 'kOffset' | 'kvWrite'> & {
  kvWrite: Omit<RopeKvWrite, 'v' | 'vStride' | 'vOffset'>;
};

// Storage bindings of the pairs product with the rope epilogue, at most (x and its scales from
// storage, bias and rope factors present).
const PAIRS_ROPE_STORAGE_BINDINGS = 12;

/** out[m, N] = x[m, K] · Wᵀ (+ bias) (+ residual), and with `rope` the rotary embedding after. */
export function linear(rec: StepRecorder, a: LinearArgs): void {
  if (a.normOut) {
    linearNormOut(rec, a, a.normOut);
    return;
  }
  const r = a.rope;
  if (!r) {
    product(rec, a);
    return;
  }
  const name = 'linear';
  const qLen = r.numHeads * r.headDim;
  const kLen = r.numKvHeads * r.headDim;
  if (!a.split || a.split.at !== qLen || a.w.rows !== qLen + 2 * kLen) {
    throw new KernelShapeError(
      name,
      `rope needs a Q|K|V weight of ${qLen} + 2 x ${kLen} rows split at ${qLen} (numHeads x headDim), got ${a.w.rows} rows split at ${String(a.split?.at)}`,
    );
  }
  const ropeArgs: RopeArgs = {
    ...r,
    q: a.out,
    k: a.split.out,
    tokens: a.m,
    kStride: 2 * kLen,
    kvWrite: { ...r.kvWrite, v: a.split.out, vStride: 2 * kLen, vOffset: kLen },
  };
  const checked = checkedRope(name, ropeArgs);
  const kvDtype = r.kvWrite.kvDtype ?? 'f32';
  const fused =
    a.w.parts.every((p) => p.pairs && p.rowStart % 2 === 0 && p.rows % 2 === 0) &&
    r.layout === 'adjacent' &&
    rec.ctx.limits.maxStorageBuffersPerShaderStage >= PAIRS_ROPE_STORAGE_BINDINGS;
  if (!fused) {
    product(rec, { ...a, rope: undefined });
    rope(rec, ropeArgs);
    return;
  }
  const p = checked.params;
  product(rec, a, {
    variant: { freqFactors: r.freqFactors !== undefined, kvDtype },
    params: {
      head_dim: p.head_dim,
      num_kv_heads: p.num_kv_heads,
      log2_theta: p.log2_theta,
      position_scale: p.position_scale,
      num_slots: p.num_slots,
      block_size: p.block_size,
    },
    buffers: {
      positions: r.positions,
      freq_factors: r.freqFactors,
      slots: r.kvWrite.slots,
      k_cache: r.kvWrite.kCache,
      v_cache: r.kvWrite.vCache,
    },
  });
}

/** `linear` with `normOut`: in the pairs product's stores where it can, else rmsNorm after. */
function linearNormOut(rec: StepRecorder, a: LinearArgs, n: NonNullable<LinearArgs['normOut']>): void {
  const name = 'linear';
  if (!a.residual || a.split || a.glu || a.rope || a.int8Out) {
    throw new KernelShapeError(name, 'normOut comes with a residual product only (no split, glu, rope or int8Out)');
  }
  const dim = a.w.rows;
  if (dim % I8_GROUP !== 0) throw new KernelShapeError(name, `normOut needs a multiple of ${I8_GROUP} outputs, got ${dim}`);
  if (!(n.eps >= 0)) throw new KernelShapeError(name, `normOut.eps must be >= 0, got ${n.eps}`);
  requireBytes(name, 'normOut.weight', n.weight, dim * 4);
  requireInt8Activations(name, 'normOut.out', n.out, a.m, dim);
  const pairs = a.bias ? 0 : pairsNormOutPairs(rec.ctx, a.w, a.m);
  if (pairs !== 0) {
    product(rec, { ...a, normOut: undefined }, undefined, { weight: n.weight, out: n.out, pairs });
    return;
  }
  product(rec, { ...a, normOut: undefined });
  // rmsNorm writes its float output too: a scratch buffer nobody reads.
  const normed = rec.ctx.scratch('normOut float output', a.m * dim * 4);
  rmsNorm(rec, { x: a.out, weight: n.weight, out: normed, rows: a.m, dim, eps: n.eps, int8: n.out });
}

/** The product itself; `rope` (checked by `linear`) goes into the pairs product's stores. */
function product(
  rec: StepRecorder,
  a: LinearArgs,
  ropeCall?: PairsRopeCall,
  normOut?: PairsProduct['normOut'],
): void {
  const name = 'linear';
  const { w, m } = a;
  requireInt(name, 'm', m, 1);
  requireBytes(name, 'x', a.x, m * w.cols * 4);
  const { epilogue, outStride } = checkEpilogue(name, w.rows, m, a, { x: a.x });

  const ctx = rec.ctx;
  if (a.f16Native && !ctx.features.shaderF16) {
    throw new KernelShapeError(name, 'f16Native needs the shader-f16 feature, which this device lacks');
  }
  if (w.parts.some((p) => p.pairs)) {
    const dtype = w.parts[0]!.dtype;
    if (!w.parts.every((p) => p.pairs && p.dtype === dtype) || !isPairsDtype(dtype) || a.kernel) {
      throw new KernelShapeError(name, `${w.label}: a matrix with int8 activations is read by its own product only, every part of one type, without a kernel choice`);
    }
    if (a.int8X) requireInt8Activations(name, 'int8X', a.int8X, m, w.cols);
    if (a.int8Out) {
      if (epilogue !== 'glu') throw new KernelShapeError(name, 'int8Out comes with the glu epilogue only');
      requireInt8Activations(name, 'int8Out', a.int8Out, m, outStride);
    }
    linearPairs(rec, {
      x: a.x,
      m,
      w,
      dtype,
      variant: { bias: a.bias !== undefined, residual: a.residual !== undefined, epilogue },
      outStride,
      split: a.split?.at ?? 0,
      int8X: a.int8X,
      int8Out: a.int8Out,
      rope: ropeCall,
      normOut,
      outputs: { out: a.out, out2: a.split?.out, bias: a.bias, residual: a.residual },
    });
    return;
  }
  if (a.int8Out) {
    throw new KernelShapeError(name, `${w.label}: int8Out needs a matrix uploaded with activations 'int8'`);
  }
  const blocks = w.parts.some((p) => p.dtype !== 'f32' && p.dtype !== 'f16');
  const kind = a.kernel ?? linearKernelFor(ctx, w.cols, m, { batchInvariant: a.batchInvariant, blocks });
  const subgroup = streamSubgroup(ctx, w.cols, blocks);
  if ((kind === 'stream' || kind === 'tile') && subgroup === 0) {
    throw new KernelShapeError(
      name,
      `the ${kind} kernel needs the subgroups feature with a fixed size S (${String(ctx.subgroupSize)}) and K % 4S == 0 (K = ${w.cols})` +
        (blocks ? ', and 4S a multiple of 32 over block-quantized weights' : ''),
    );
  }
  const f16Native = kind !== 'stream' && kind !== 'tile' && (a.f16Native ?? ctx.features.shaderF16);
  // Each part is read in its own format (the parts of a Q|K|V matrix may differ in type).
  const variantOf = (part: GpuMatrixPart): { variant: LinearVariant; key: string } => {
    const variant: LinearVariant = {
      weights: storageFormat(part.dtype, f16Native, part.lanes),
      bias: a.bias !== undefined,
      residual: a.residual !== undefined,
      epilogue,
    };
    const key = `${variant.weights.tag}${epilogueKey(variant)}`;
    return { variant, key };
  };
  const buffers = (part: GpuMatrixPart, x: BufferBindingLike) => ({
    x,
    w: part.buffer,
    w_scales: part.scales,
    out: a.out,
    out2: a.split?.out,
    bias: a.bias,
    residual: a.residual,
  });
  const split = a.split?.at ?? 0;
  // Every kernel runs the tokens in passes of `perPass` and each pass over every weight part.
  // `uniformX` gives a pass's x as a uniform binding where the kernel reads it so (see stream).
  const dispatchPasses = (
    perPass: number,
    kernelFor: (tokens: number, variant: LinearVariant, key: string, part: GpuMatrixPart, xUniformBytes?: number) => LinearKernel,
    groups: (part: GpuMatrixPart) => [number, number?],
    uniformX?: (t0: number, tokens: number) => BufferBindingLike | undefined,
  ): void => {
    for (let t0 = 0; t0 < m; t0 += perPass) {
      const tokens = Math.min(perPass, m - t0);
      const xUniform = uniformX?.(t0, tokens);
      for (const part of w.parts) {
        const { variant, key } = variantOf(part);
        const kernel = kernelFor(tokens, variant, key, part, xUniform?.size);
        const params = { ...partParams(w, part, outStride, t0, tokens), split };
        rec.dispatchKernel(kernel, params, buffers(part, xUniform ?? a.x), groups(part));
      }
    }
  };
  if (kind === 'matmul') {
    dispatchPasses(
      m,
      (_, variant, key) => kernelSource('matmul', key, () => matmulKernel(variant)),
      (part) => [Math.ceil(part.rows / MATMUL_TILE_COLS), Math.ceil(m / MATMUL_TILE_ROWS)],
    );
    return;
  }
  if (kind === 'tile') {
    const xWindow = uniformWindow(ctx, a.x);
    const shape = tileShape(m, w.cols, w.byteLength, xWindow !== undefined, ctx.device.limits.maxUniformBufferBindingSize);
    const shapeOf = (part: GpuMatrixPart, xUniform?: number): TileShape => ({
      tokens: shape.tokens,
      workgroup: cpuWorkgroup(Math.ceil(part.rows / 4), subgroup),
      subgroup,
      xUniform,
    });
    const windowTokens = shape.windowTokens;
    dispatchPasses(
      windowTokens ?? m,
      (_, variant, key, part, xUniformBytes) => {
        const s = shapeOf(part, xUniformBytes && xUniformBytes / 16);
        const tag = s.xUniform ? `ux${s.xUniform}` : '';
        return kernelSource('matvec-tile', `${key}/t${s.tokens}w${s.workgroup}s${s.subgroup}${tag}`, () =>
          tileMatvecKernel(variant, s),
        );
      },
      (part) => [Math.ceil(part.rows / (4 * shapeOf(part).workgroup))],
      // A pass at the end of a buffer without room for a whole window reads x from storage.
      windowTokens === undefined ? undefined : (t0) => xWindow?.(t0 * w.cols * 4, windowTokens * w.cols * 4),
    );
    return;
  }
  if (kind === 'stream') {
    const shape = a.streamShape ?? defaultStreamShape(m, a.glu === true);
    if (a.glu && shape.rows % 2 !== 0) {
      throw new KernelShapeError(name, `glu needs an even streamShape.rows (gate and up rows in pairs), got ${shape.rows}`);
    }
    requireInt(name, 'streamShape.rows', shape.rows, 1);
    requireInt(name, 'streamShape.tokens', shape.tokens, 1);
    const workgroup = (part: GpuMatrixPart) => cpuWorkgroup(Math.ceil(part.rows / shape.rows), subgroup);
    const passTokens = (tokens: number) => (a.streamShape ? shape.tokens : matvecTokens(tokens, shape.tokens));
    // x as a uniform where the device allows the pass's window: lavapipe loads a uniform with a
    // varying index as one gather for all lanes, a storage buffer lane by lane.
    const xWindow = uniformWindow(ctx, a.x);
    const uniformX = (t0: number, tokens: number) => xWindow?.(t0 * w.cols * 4, passTokens(tokens) * w.cols * 4);
    const kernelFor = (tokens: number, variant: LinearVariant, key: string, part: GpuMatrixPart, xUniformBytes?: number) => {
      const s: StreamShape = {
        rows: shape.rows,
        tokens: passTokens(tokens),
        workgroup: workgroup(part),
        subgroup,
        xUniform: xUniformBytes ? w.cols : undefined,
        // A super-block (8 groups) must be whole iterations of the kernel's loop (4S elements each).
        superBlocks: variant.weights.blocks?.superBlock !== undefined && w.cols % 256 === 0 && subgroup <= 64,
      };
      const tag = `${s.xUniform ? `ux${s.xUniform}` : ''}${s.superBlocks ? 'sb' : ''}`;
      return kernelSource('matvec-stream', `${key}/r${s.rows}t${s.tokens}w${s.workgroup}s${s.subgroup}${tag}`, () =>
        streamMatvecKernel(variant, s),
      );
    };
    dispatchPasses(shape.tokens, kernelFor, (part) => [Math.ceil(part.rows / (shape.rows * workgroup(part)))], uniformX);
    return;
  }
  const vec4 = w.cols % 4 === 0;
  const rows = a.glu ? 2 : 1;
  const kernelFor = (tokens: number, variant: LinearVariant, key: string) => {
    const s: ReduceShape = { rows, tokens: matvecTokens(tokens, MATVEC_MAX_ROWS), workgroup: REDUCE_WORKGROUP, vec4 };
    return kernelSource('matvec-reduce', `${key}/t${s.tokens}w${s.workgroup}${vec4 ? 'v4' : ''}`, () =>
      reduceMatvecKernel(variant, s),
    );
  };
  dispatchPasses(MATVEC_MAX_ROWS, kernelFor, (part) => [Math.ceil(part.rows / rows)]);
}
