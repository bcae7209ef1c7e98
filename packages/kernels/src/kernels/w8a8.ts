import { inverseFactors, quantizeRowsI8 } from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireInt } from './kernel-args.js';
import { checkEpilogue, type LinearOutputArgs } from './linear.js';
import { kernelSource } from './kernel-cache.js';
import { linearI8Kernel, QUANTIZE_WORKGROUP, quantizeI8Kernel } from './w8a8.wgsl.js';
import { epilogueKey, type LinearEpilogueVariant } from './linear.wgsl.js';
import { cpuWorkgroup, fixedSubgroupSize, grid1d } from './workgroup-grid.js';

/**
 * A weight for W8A8 products: each row (output feature) int8 with one f32 scale, symmetric, as
 * @llm/quant's quantizeKvI8Row rounds it, after its columns were multiplied by the smoothing
 * factors (SmoothQuant: the activations are divided by the same factors before they are
 * quantized, which moves their outlier channels' range into the weights). Rows are `words`
 * vec4<u32> (16 int8 each) long, K padded with zeros to whole steps of the adapter's subgroup.
 */
export class I8Matrix {
  constructor(
    readonly rows: number,
    readonly cols: number,
    /** vec4<u32> words per row, and per row of the activations quantized for it. */
    readonly words: number,
    readonly weights: GPUBuffer,
    readonly scales: GPUBuffer,
    /** f32 [cols]: 1 / the smoothing factor of each input feature; none without smoothing. */
    readonly invSmooth: GPUBuffer | undefined,
    readonly label: string,
  ) {}

  get byteLength(): number {
    return this.weights.size + this.scales.size + (this.invSmooth?.size ?? 0);
  }

  destroy(): void {
    this.weights.destroy();
    this.scales.destroy();
    this.invSmooth?.destroy();
  }
}

/** vec4<u32> words per int8 row of `cols` features on an adapter whose subgroup has `subgroup` lanes. */
export function i8RowWords(cols: number, subgroup: number): number {
  return Math.ceil(cols / (16 * subgroup)) * subgroup;
}

/** The subgroup size the W8A8 kernels bake in, or a KernelShapeError. */
function i8Subgroup(ctx: Pick<GpuContext, 'features' | 'subgroupSize'>, name: string): number {
  const subgroup = fixedSubgroupSize(ctx);
  if (subgroup === 0) {
    throw new KernelShapeError(name, `the W8A8 kernels need the subgroups feature with a fixed size (got ${String(ctx.subgroupSize)})`);
  }
  return subgroup;
}

export interface UploadI8Options {
  label?: string;
  /** SmoothQuant factors, one per input feature (positive): weights times them, activations divided. */
  smooth?: Float32Array | undefined;
}

/** Quantizes a [rows, cols] f32 weight (PyTorch layout) to an I8Matrix on the GPU. */
export function uploadI8Matrix(
  ctx: GpuContext,
  values: Float32Array,
  rows: number,
  cols: number,
  opts: UploadI8Options = {},
): I8Matrix {
  const name = 'uploadI8Matrix';
  const label = opts.label ?? `i8 matrix ${rows}x${cols}`;
  requireInt(name, 'rows', rows, 1);
  requireInt(name, 'cols', cols, 1);
  if (cols % 4 !== 0) throw new KernelShapeError(name, `${label}: cols must be a multiple of 4, got ${cols}`);
  if (values.length !== rows * cols) {
    throw new KernelShapeError(name, `${label}: ${values.length} values, ${rows}x${cols} needs ${rows * cols}`);
  }
  const smooth = opts.smooth;
  if (smooth && (smooth.length !== cols || smooth.some((s) => !(s > 0) || !Number.isFinite(s)))) {
    throw new KernelShapeError(name, `${label}: smooth needs ${cols} positive finite factors`);
  }
  const words = i8RowWords(cols, i8Subgroup(ctx, name));
  const rowBytes = words * 16;
  if (rows * rowBytes > Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize)) {
    throw new KernelShapeError(name, `${label}: ${rows * rowBytes} bytes of int8 rows exceed one storage binding`);
  }
  const { q, scales } = quantizeRowsI8(values, rows, cols, smooth);
  const padded = new Int8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) padded.set(q.subarray(r * cols, (r + 1) * cols), r * rowBytes);
  return new I8Matrix(
    rows,
    cols,
    words,
    ctx.upload(padded, `${label} int8`),
    ctx.upload(scales, `${label} scales`),
    smooth && ctx.upload(inverseFactors(smooth), `${label} 1/smooth`),
    label,
  );
}

/** int8 activations for an I8Matrix: [m, words] vec4<u32> rows and one f32 scale per token. */
export interface I8Activations {
  q: BufferBindingLike;
  scales: BufferBindingLike;
}

export interface QuantizeActivationsArgs {
  /** f32 [m, K], K = w.cols. */
  x: BufferBindingLike;
  /** The weight the activations are quantized for (its row length and smoothing). */
  w: I8Matrix;
  m: number;
  out: I8Activations;
}

/** Quantizes m rows of x for a W8A8 product with `w` (see quantizeI8Kernel). */
export function quantizeActivationsI8(rec: StepRecorder, a: QuantizeActivationsArgs): void {
  const name = 'quantizeActivationsI8';
  const { w, m } = a;
  requireInt(name, 'm', m, 1);
  requireBytes(name, 'x', a.x, m * w.cols * 4);
  requireBytes(name, 'out.q', a.out.q, m * w.words * 16);
  requireBytes(name, 'out.scales', a.out.scales, m * 4);
  const smooth = w.invSmooth !== undefined;
  const kernel = kernelSource('quantize-i8', smooth ? 'smooth' : 'plain', () => quantizeI8Kernel(smooth));
  rec.dispatchKernel(
    kernel,
    { k: w.cols, words: w.words, tokens: m },
    { x: a.x, inv_smooth: w.invSmooth, xq: a.out.q, x_scales: a.out.scales },
    grid1d(Math.ceil(m / QUANTIZE_WORKGROUP), rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}

/** `linear`'s arguments, over int8 activations and an I8Matrix (bias, residual, split, glu alike). */
export interface LinearI8Args extends LinearOutputArgs {
  /** m tokens quantized for `w` by quantizeActivationsI8. */
  x: I8Activations;
  w: I8Matrix;
  m: number;
}

// Tokens per block of the kernel's loop: one for a lone token (decode), else as the float tile
// kernel. Any block gives a token the same bits: its sums are exact integers.
function blockTokens(m: number): number {
  return m === 1 ? 1 : m <= 4 ? 4 : m <= 8 ? 8 : 16;
}

/**
 * out[m, N] = x · Wᵀ over int8 values (W8A8): per output f32(exact integer sum) x the row's scale
 * x the token's scale, then bias, residual, split or glu as `linear` applies them.
 */
export function linearI8(rec: StepRecorder, a: LinearI8Args): void {
  const name = 'linearI8';
  const { w, m } = a;
  requireInt(name, 'm', m, 1);
  const { epilogue, outStride } = checkEpilogue(name, w.rows, m, a, { 'x.q': a.x.q, 'x.scales': a.x.scales });
  requireBytes(name, 'x.q', a.x.q, m * w.words * 16);
  requireBytes(name, 'x.scales', a.x.scales, m * 4);
  const subgroup = i8Subgroup(rec.ctx, name);
  const variant: LinearEpilogueVariant = { bias: a.bias !== undefined, residual: a.residual !== undefined, epilogue };
  const tokens = blockTokens(m);
  const workgroup = cpuWorkgroup(Math.ceil(w.rows / 4), subgroup);
  const key = `${epilogueKey(variant)}/t${tokens}w${workgroup}s${subgroup}`;
  const kernel = kernelSource('linear-i8', key, () => linearI8Kernel(variant, { tokens, workgroup, subgroup }));
  rec.dispatchKernel(
    kernel,
    {
      k: w.cols,
      row_stride: w.words,
      n_count: w.rows,
      n_start: 0,
      out_stride: outStride,
      t0: 0,
      tokens: m,
      split: a.split?.at ?? 0,
    },
    { x: a.x.q, x_scales: a.x.scales, w: w.weights, w_scales: w.scales, out: a.out, out2: a.split?.out, bias: a.bias, residual: a.residual },
    [Math.ceil(w.rows / (4 * workgroup))],
  );
}
