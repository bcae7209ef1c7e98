import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import {
  byteLengthOf,
  elementType,
  f16ArrayToF32,
  f32ArrayToF16,
  quantize,
  type MatrixDtype,
} from '@llm/quant';
import { interleaveBlockLanes, isLaneBlockDtype, repackBlocks, type BlockMatrixDtype } from './block-repack.js';
import { storageElementBytes, storageFormat } from './storage-format.js';
import { interleaveLanes } from './lanes-layout.js';
import { int8ActivationsSupported, isPairsDtype, PAIR_LANES, repackPairs } from './int8-pairs.js';
import { fixedSubgroupSize } from './workgroup-grid.js';

/**
 * A range of output features (rows of the PyTorch weight) in its own buffer. GPU layout:
 * row-major like the source, each row padded with zeros to `rowStride` elements (a multiple of 8,
 * so a row starts on a 16-byte boundary in f16 and in f32): element (n, k) at
 * `(n - rowStart) * rowStride + k`. A matvec streams whole rows with 16-byte loads, and one
 * embedding row is one contiguous read. Block-quantized parts hold the quants in `buffer` and the
 * scales in `scales` (block-repack.ts); their rows are whole blocks, so `rowStride` = cols.
 *
 * The lanes layout (f32 and f16, `lanes` > 0): the part's rows in blocks of `lanes` (the last
 * padded with zero rows), and within a block the rows' 16-byte units interleaved: unit u (4 f32
 * or 8 halves) of local row n at unit `((n / lanes) * U + u) * lanes + n % lanes`, U units per
 * row. The CPU adapters' kernels stream a row per SIMD lane, so a subgroup's loads of one step are
 * one contiguous run instead of `lanes` rows apart: on lavapipe the matrix-vector products read
 * 1.3-1.6x faster than over row-major rows. The 32-element block types (LANE_BLOCK_DTYPES) take
 * the same layout group by group: group j of local row n at slot `((n / lanes) * G + j) * lanes
 * + n % lanes` of both arrays (interleaveBlockLanes).
 */
export interface GpuMatrixPart {
  /** How this part is stored; the parts of one matrix may differ (Q|K|V of a Q4_K_M file). */
  dtype: MatrixDtype;
  buffer: GPUBuffer;
  /** Block formats: the scales (and fifth bits), read as `<binding>_scales`. */
  scales?: GPUBuffer | undefined;
  /** First output feature (row of the PyTorch weight) held here. */
  rowStart: number;
  /** Output features held here. */
  rows: number;
  /** Rows per interleaved block of the lanes layout; 0 or absent: row-major. */
  lanes?: number | undefined;
  /**
   * Q4_0 or Q8_0 in the pairs layout (int8-pairs.ts, `activations: 'int8'`): read only by `linear`, whose
   * product quantizes x to int8 per 32-value group and sums integers.
   */
  pairs?: true | undefined;
}

/** Elements per stored row of a matrix with `cols` input features. */
export function matrixRowStride(cols: number): number {
  return Math.ceil(cols / 8) * 8;
}

/**
 * The weight of a linear layer, PyTorch/GGUF shape [rows N (out), cols K (in)], on the GPU in
 * row-major parts, each under the device's maxStorageBufferBindingSize.
 */
export class GpuMatrix {
  /** Elements per stored row: cols padded to a multiple of 8. */
  readonly rowStride: number;

  constructor(
    /** N: output features (PyTorch rows). */
    readonly rows: number,
    /** K: input features (PyTorch cols). */
    readonly cols: number,
    /** The parts' storage type, or 'mixed' when they differ (see concatMatrices). */
    readonly dtype: MatrixDtype | 'mixed',
    readonly parts: readonly GpuMatrixPart[],
    readonly label: string,
  ) {
    this.rowStride = matrixRowStride(cols);
  }

  get byteLength(): number {
    let n = 0;
    for (const p of this.parts) n += p.buffer.size + (p.scales?.size ?? 0);
    return n;
  }

  destroy(): void {
    for (const p of this.parts) {
      p.buffer.destroy();
      p.scales?.destroy();
    }
  }
}

/** How f32 and f16 matrices are stored: row-major, or rows interleaved by lanes (see GpuMatrixPart). */
export type MatrixLayout = 'rows' | 'lanes';

export interface UploadMatrixOptions {
  label?: string;
  /** Largest part in bytes; defaults to the device's maxStorageBufferBindingSize (and maxBufferSize). */
  maxPartBytes?: number;
  /**
   * f32, f16 and the 32-element block types (q8_0, q4_0, q4_1, q5_0, q5_1; the others are always
   * row-major): 'lanes' interleaves rows by the adapter's fixed subgroup size (needs one). By
   * default 'lanes' on CPU adapters where the stream kernels read K (K a multiple of 4
   * subgroups), 'rows' elsewhere. Every kernel reading a matrix reads both layouts.
   */
  layout?: MatrixLayout;
  /**
   * How `linear` takes x over this matrix. 'int8' (Q4_0 and Q8_0, adapters with subgroups of a
   * fixed size of at least 8): x quantized to int8 per 32-value group, as llama.cpp's CPU backend
   * does for its quantized products, and the weights stored as row pairs of 4-bit levels
   * (int8-pairs.ts) whose two rows one integer multiply accumulates at once; a Q4_0 product then
   * does about a third of the float path's work per weight. Only `linear` reads such a matrix.
   * Default 'f32': x as it is.
   */
  activations?: 'f32' | 'int8';
}

/** Rows per interleaved block for a `dtype` matrix of `cols` columns uploaded with `layout`; 0: row-major. */
function matrixLanes(
  ctx: GpuContext,
  cols: number,
  dtype: MatrixDtype,
  rowBytes: number,
  label: string,
  opts: UploadMatrixOptions,
): number {
  // The block types the lanes layout does not hold stay row-major.
  if (dtype !== 'f32' && dtype !== 'f16' && !isLaneBlockDtype(dtype)) return 0;
  const size = fixedSubgroupSize(ctx);
  // A part holds whole blocks of rows.
  const fits = size > 0 && Math.floor(maxPartBytes(ctx, opts) / rowBytes) >= size;
  if (opts.layout === 'lanes') {
    if (size === 0) throw new KernelShapeError('uploadMatrix', `${label}: the lanes layout needs subgroups of a fixed size`);
    if (!fits) {
      throw new KernelShapeError(
        'uploadMatrix',
        `${label}: fewer than ${size} rows of ${cols} ${dtype} values fit one part of at most ${maxPartBytes(ctx, opts)} bytes, as the lanes layout needs`,
      );
    }
    return size;
  }
  return opts.layout === undefined && ctx.isCpuAdapter && fits && cols % (4 * size) === 0 ? size : 0;
}

/** Largest part in bytes: the option, under the device's binding and buffer limits. */
function maxPartBytes(ctx: GpuContext, opts: UploadMatrixOptions): number {
  return Math.min(opts.maxPartBytes ?? Number.POSITIVE_INFINITY, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
}

/**
 * Uploads a weight given row-major [rows N, cols K] (PyTorch/GGUF layout), stored on the GPU as
 * `dtype`. `data` is f32 values or f16 bits (converted when `dtype` differs; quantized with
 * @llm/quant's codec when `dtype` is a block type), or, for a block `dtype`, the tensor's blocks
 * as a GGUF stores them (a Uint8Array, repacked into the kernels' layout without decoding).
 */
export function uploadMatrix(
  ctx: GpuContext,
  data: Float32Array | Uint16Array | Uint8Array,
  rows: number,
  cols: number,
  dtype: MatrixDtype,
  opts: UploadMatrixOptions = {},
): GpuMatrix {
  const label = opts.label ?? `matrix ${rows}x${cols}`;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: rows and cols must be positive integers, got ${rows}x${cols}`,
    );
  }
  if (opts.activations === 'int8') {
    if (!isPairsDtype(dtype)) throw new KernelShapeError('uploadMatrix', `${label}: int8 activations are for q4_0 and q8_0 weights, not ${dtype}`);
    if (!int8ActivationsSupported(ctx)) {
      throw new KernelShapeError('uploadMatrix', `${label}: int8 activations need subgroups of a fixed size of at least ${PAIR_LANES}`);
    }
  }
  if (dtype !== 'f32' && dtype !== 'f16') return uploadBlocks(ctx, data, rows, cols, dtype, label, opts);
  if (data instanceof Uint8Array) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: raw bytes are taken for block types only, not ${dtype}`,
    );
  }
  if (data.length !== rows * cols) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: data has ${data.length} elements, ${rows}x${cols} needs ${rows * cols}`,
    );
  }
  const stride = matrixRowStride(cols);
  const rowBytes = stride * storageElementBytes(storageFormat(dtype, false));
  const lanes = matrixLanes(ctx, cols, dtype, rowBytes, label, opts);
  const parts: GpuMatrixPart[] = [];
  for (const { rowStart, partRows } of partRanges(ctx, rows, cols, rowBytes, dtype, label, opts, lanes)) {
    const padded = padRows(data, cols, stride, rowStart, partRows, dtype);
    // Moved as 32-bit words, 4 per 16-byte unit, f32 and f16 alike (halves from a file may sit
    // at an offset that is not a multiple of 4).
    const words = () => {
      const aligned = padded.byteOffset % 4 === 0 ? padded : padded.slice();
      return new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    };
    const bytes = lanes > 0 ? interleaveLanes(words(), partRows, 4, lanes) : padded;
    parts.push({
      dtype,
      buffer: ctx.upload(bytes, `${label}[${rowStart}:${rowStart + partRows}]`),
      rowStart,
      rows: partRows,
      ...(lanes > 0 ? { lanes } : {}),
    });
  }
  return new GpuMatrix(rows, cols, dtype, parts, label);
}

/** Row ranges of the parts: each under the binding limits, balanced, an even number of rows. */
function partRanges(
  ctx: GpuContext,
  rows: number,
  cols: number,
  rowBytes: number,
  dtype: MatrixDtype,
  label: string,
  opts: UploadMatrixOptions,
  lanes = 0,
): { rowStart: number; partRows: number }[] {
  const limit = maxPartBytes(ctx, opts);
  // Parts hold an even number of rows, so that (gate, up) row pairs never straddle two parts; in
  // the lanes layout whole blocks of rows (matrixLanes checked that one fits), which also bounds
  // the last block's padding.
  const fit = Math.floor(limit / rowBytes);
  const whole = lanes > 1 ? lanes : 2;
  const maxRows = fit > 1 ? fit - (fit % whole) : fit;
  if (maxRows < 1) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: one row of ${cols} ${dtype} values exceeds the binding limit of ${limit} bytes`,
    );
  }
  const numParts = Math.ceil(rows / maxRows);
  // Balanced parts: a 32000-row LM head over 2 parts gets 16000 each, not 31998 + 2.
  const rowsPerPart = Math.min(maxRows, Math.ceil(rows / numParts / whole) * whole);
  const ranges: { rowStart: number; partRows: number }[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerPart) {
    ranges.push({ rowStart, partRows: Math.min(rowsPerPart, rows - rowStart) });
  }
  return ranges;
}

/** A block-quantized matrix: its GGUF blocks (or values quantized here), repacked per part. */
function uploadBlocks(
  ctx: GpuContext,
  data: Float32Array | Uint16Array | Uint8Array,
  rows: number,
  cols: number,
  dtype: BlockMatrixDtype,
  label: string,
  opts: UploadMatrixOptions,
): GpuMatrix {
  const type = elementType(dtype);
  if (cols % type.blockSize !== 0) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: rows of ${cols} values are not whole ${type.blockSize}-element ${dtype} blocks`,
    );
  }
  let blocks: Uint8Array;
  if (data instanceof Uint8Array) {
    blocks = data;
    if (blocks.length !== byteLengthOf(type, rows * cols)) {
      throw new KernelShapeError(
        'uploadMatrix',
        `${label}: ${blocks.length} bytes of ${dtype}, ${rows}x${cols} needs ${byteLengthOf(type, rows * cols)}`,
      );
    }
  } else {
    if (data.length !== rows * cols) {
      throw new KernelShapeError(
        'uploadMatrix',
        `${label}: data has ${data.length} elements, ${rows}x${cols} needs ${rows * cols}`,
      );
    }
    blocks = quantize(dtype, data instanceof Float32Array ? data : f16ArrayToF32(data));
  }
  const rowBlockBytes = (cols / type.blockSize) * type.bytesPerBlock;
  const parts: GpuMatrixPart[] = [];
  const rowBytes = cols * storageElementBytes(storageFormat(dtype, false));
  if (opts.activations === 'int8' && isPairsDtype(dtype)) {
    // Parts of whole blocks of row pairs.
    for (const { rowStart, partRows } of partRanges(ctx, rows, cols, rowBytes, dtype, label, opts, 2 * PAIR_LANES)) {
      const { quants, scales } = repackPairs(dtype, blocks.subarray(rowStart * rowBlockBytes, (rowStart + partRows) * rowBlockBytes), partRows, cols);
      const name = `${label}[${rowStart}:${rowStart + partRows}]`;
      parts.push({ dtype, buffer: ctx.upload(quants, name), scales: ctx.upload(scales, `${name}.scales`), rowStart, rows: partRows, pairs: true });
    }
    return new GpuMatrix(rows, cols, dtype, parts, label);
  }
  const lanes = matrixLanes(ctx, cols, dtype, rowBytes, label, opts);
  for (const { rowStart, partRows } of partRanges(ctx, rows, cols, rowBytes, dtype, label, opts, lanes)) {
    const repacked = repackBlocks(
      dtype,
      blocks.subarray(rowStart * rowBlockBytes, (rowStart + partRows) * rowBlockBytes),
      partRows * cols,
    );
    const { quants, scales } =
      lanes > 0 && isLaneBlockDtype(dtype) ? interleaveBlockLanes(dtype, repacked, partRows, lanes) : repacked;
    const name = `${label}[${rowStart}:${rowStart + partRows}]`;
    parts.push({
      dtype,
      buffer: ctx.upload(quants, name),
      scales: ctx.upload(scales, `${name}.scales`),
      rowStart,
      rows: partRows,
      ...(lanes > 0 ? { lanes } : {}),
    });
  }
  return new GpuMatrix(rows, cols, dtype, parts, label);
}

/**
 * The rows of `matrices` stacked into one matrix (same cols), taking over their parts: each part
 * keeps its storage type, so a product over the result reads each in place (Q, K and V of
 * different types as one projection). The inputs must not be used or destroyed afterwards.
 */
export function concatMatrices(matrices: readonly GpuMatrix[], label: string): GpuMatrix {
  const first = matrices[0];
  if (!first) throw new KernelShapeError('concatMatrices', `${label}: no matrices`);
  const parts: GpuMatrixPart[] = [];
  let rows = 0;
  for (const m of matrices) {
    if (m.cols !== first.cols) {
      throw new KernelShapeError(
        'concatMatrices',
        `${label}: ${m.label} has ${m.cols} cols, ${first.label} ${first.cols}`,
      );
    }
    for (const p of m.parts) parts.push({ ...p, rowStart: rows + p.rowStart });
    rows += m.rows;
  }
  const dtypes = new Set(parts.map((p) => p.dtype));
  const dtype = dtypes.size === 1 ? first.parts[0]!.dtype : 'mixed';
  return new GpuMatrix(rows, first.cols, dtype, parts, label);
}

/** Rows [rowStart, rowStart + count) of the source as `dtype`, each padded to `stride` elements. */
function padRows(
  src: Float32Array | Uint16Array,
  cols: number,
  stride: number,
  rowStart: number,
  count: number,
  dtype: 'f32' | 'f16',
): Float32Array | Uint16Array {
  const rowsOf = src.subarray(rowStart * cols, (rowStart + count) * cols);
  const srcIsF32 = src instanceof Float32Array;
  if (dtype === 'f32') {
    const values = srcIsF32 ? (rowsOf as Float32Array) : f16ArrayToF32(rowsOf as Uint16Array);
    if (stride === cols) return values;
    const out = new Float32Array(count * stride);
    for (let n = 0; n < count; n++) out.set(values.subarray(n * cols, (n + 1) * cols), n * stride);
    return out;
  }
  const halves = srcIsF32 ? f32ArrayToF16(rowsOf as Float32Array) : (rowsOf as Uint16Array);
  if (stride === cols) return halves;
  const out = new Uint16Array(count * stride);
  for (let n = 0; n < count; n++) out.set(halves.subarray(n * cols, (n + 1) * cols), n * stride);
  return out;
}
