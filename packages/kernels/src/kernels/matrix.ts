import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import { f16ArrayToF32, f32ArrayToF16, type GpuDtype } from '@llm/quant';
import { storageElementBytes, storageFormat } from './storage-format.js';


/**
 * A range of output features (rows of the PyTorch weight) in its own buffer. GPU layout:
 * row-major like the source, each row padded with zeros to `rowStride` elements (a multiple of 8,
 * so a row starts on a 16-byte boundary in f16 and in f32): element (n, k) at
 * `(n - rowStart) * rowStride + k`. A matvec streams whole rows with 16-byte loads, and one
 * embedding row is one contiguous read.
 */
export interface GpuMatrixPart {
  buffer: GPUBuffer;
  /** First output feature (row of the PyTorch weight) held here. */
  rowStart: number;
  /** Output features held here. */
  rows: number;
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
    readonly dtype: GpuDtype,
    readonly parts: readonly GpuMatrixPart[],
    readonly label: string,
  ) {
    this.rowStride = matrixRowStride(cols);
  }

  get byteLength(): number {
    let n = 0;
    for (const p of this.parts) n += p.buffer.size;
    return n;
  }

  destroy(): void {
    for (const p of this.parts) p.buffer.destroy();
  }
}

export interface UploadMatrixOptions {
  label?: string;
  /** Largest part in bytes; defaults to the device's maxStorageBufferBindingSize (and maxBufferSize). */
  maxPartBytes?: number;
}

/**
 * Uploads a weight given row-major [rows N, cols K] (PyTorch/GGUF layout) as f32 values or f16
 * bits, stored on the GPU as `dtype` (converting when the two differ).
 */
export function uploadMatrix(
  ctx: GpuContext,
  data: Float32Array | Uint16Array,
  rows: number,
  cols: number,
  dtype: GpuDtype,
  opts: UploadMatrixOptions = {},
): GpuMatrix {
  const label = opts.label ?? `matrix ${rows}x${cols}`;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: rows and cols must be positive integers, got ${rows}x${cols}`,
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
  const maxPartBytes = Math.min(
    opts.maxPartBytes ?? Number.POSITIVE_INFINITY,
    ctx.limits.maxStorageBufferBindingSize,
    ctx.limits.maxBufferSize,
  );
  // Parts hold an even number of rows, so that (gate, up) row pairs never straddle two parts.
  const fit = Math.floor(maxPartBytes / rowBytes);
  const maxRows = fit > 1 ? fit - (fit % 2) : fit;
  if (maxRows < 1) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: one row of ${cols} ${dtype} values exceeds the binding limit of ${maxPartBytes} bytes`,
    );
  }
  const numParts = Math.ceil(rows / maxRows);
  // Balanced parts: a 32000-row LM head over 2 parts gets 16000 each, not 31998 + 2.
  const rowsPerPart = Math.min(maxRows, Math.ceil(rows / numParts / 2) * 2);
  const parts: GpuMatrixPart[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerPart) {
    const partRows = Math.min(rowsPerPart, rows - rowStart);
    const bytes = padRows(data, cols, stride, rowStart, partRows, dtype);
    parts.push({
      buffer: ctx.upload(bytes, `${label}[${rowStart}:${rowStart + partRows}]`),
      rowStart,
      rows: partRows,
    });
  }
  return new GpuMatrix(rows, cols, dtype, parts, label);
}

/** Rows [rowStart, rowStart + count) of the source as `dtype`, each padded to `stride` elements. */
function padRows(
  src: Float32Array | Uint16Array,
  cols: number,
  stride: number,
  rowStart: number,
  count: number,
  dtype: GpuDtype,
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
