import { KernelShapeError } from '../runtime/errors.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import { f32ToF16Bits, f16ArrayToF32, type GpuDtype } from '@llm/quant';
import { storageElementBytes, storageFormat } from './storage-format.js';


/**
 * One column range of a matrix in its own buffer. GPU layout: K-major with the columns of the
 * range padded to a multiple of 4, element (n, k) at `k * paddedCols + (n - colStart)`; 4
 * consecutive output columns form one vec4 (f32) or one pair of u32s holding 4 halves (f16), so
 * the invocations of a matvec, one per 4 columns, read consecutive addresses.
 */
export interface GpuMatrixPart {
  buffer: GPUBuffer;
  /** First output column (row of the PyTorch weight) held here. */
  colStart: number;
  /** Output columns held here. */
  cols: number;
  /** cols rounded up to a multiple of 4; the padding columns are zero. */
  paddedCols: number;
}

/**
 * The weight of a linear layer, PyTorch/GGUF shape [rows N (out), cols K (in)], on the GPU in
 * K-major parts, each under the device's maxStorageBufferBindingSize.
 */
export class GpuMatrix {
  constructor(
    /** N: output features (PyTorch rows). */
    readonly rows: number,
    /** K: input features (PyTorch cols). */
    readonly cols: number,
    readonly dtype: GpuDtype,
    readonly parts: readonly GpuMatrixPart[],
    readonly label: string,
  ) {}

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
  const elementBytes = storageElementBytes(storageFormat(dtype, false));
  const maxPartBytes = Math.min(
    opts.maxPartBytes ?? Number.POSITIVE_INFINITY,
    ctx.limits.maxStorageBufferBindingSize,
    ctx.limits.maxBufferSize,
  );
  // Whole vec4 column groups per part.
  const maxCols = Math.floor(maxPartBytes / (cols * elementBytes * 4)) * 4;
  if (maxCols < 4) {
    throw new KernelShapeError(
      'uploadMatrix',
      `${label}: even 4 columns of ${cols} ${dtype} values exceed the binding limit of ${maxPartBytes} bytes`,
    );
  }
  const numParts = Math.ceil(rows / maxCols);
  // Even parts: a 32000-row LM head over 2 parts gets 16000 each, not 31996 + 4.
  const colsPerPart = Math.ceil(rows / numParts / 4) * 4;
  const parts: GpuMatrixPart[] = [];
  for (let colStart = 0; colStart < rows; colStart += colsPerPart) {
    const partCols = Math.min(colsPerPart, rows - colStart);
    const paddedCols = Math.ceil(partCols / 4) * 4;
    const bytes = transposePart(data, cols, colStart, partCols, paddedCols, dtype);
    parts.push({
      buffer: ctx.upload(bytes, `${label}[${colStart}:${colStart + partCols}]`),
      colStart,
      cols: partCols,
      paddedCols,
    });
  }
  return new GpuMatrix(rows, cols, dtype, parts, label);
}

/** Rows [colStart, colStart+partCols) of the row-major source, K-major, as `dtype`. */
function transposePart(
  src: Float32Array | Uint16Array,
  k: number,
  colStart: number,
  partCols: number,
  paddedCols: number,
  dtype: GpuDtype,
): Float32Array | Uint16Array {
  const srcIsF32 = src instanceof Float32Array;
  // Blocked so both the source rows and the destination rows stay in cache.
  const B = 64;
  if (dtype === 'f32') {
    const out = new Float32Array(k * paddedCols);
    const values = srcIsF32 ? src : f16ArrayToF32(src.subarray(colStart * k, (colStart + partCols) * k));
    const base = srcIsF32 ? colStart * k : 0;
    for (let n0 = 0; n0 < partCols; n0 += B) {
      const n1 = Math.min(n0 + B, partCols);
      for (let k0 = 0; k0 < k; k0 += B) {
        const k1 = Math.min(k0 + B, k);
        for (let n = n0; n < n1; n++) {
          const row = base + n * k;
          for (let kk = k0; kk < k1; kk++) out[kk * paddedCols + n] = values[row + kk]!;
        }
      }
    }
    return out;
  }
  const out = new Uint16Array(k * paddedCols);
  for (let n0 = 0; n0 < partCols; n0 += B) {
    const n1 = Math.min(n0 + B, partCols);
    for (let k0 = 0; k0 < k; k0 += B) {
      const k1 = Math.min(k0 + B, k);
      for (let n = n0; n < n1; n++) {
        const row = (colStart + n) * k;
        if (srcIsF32) {
          for (let kk = k0; kk < k1; kk++) out[kk * paddedCols + n] = f32ToF16Bits(src[row + kk]!);
        } else {
          for (let kk = k0; kk < k1; kk++) out[kk * paddedCols + n] = src[row + kk]!;
        }
      }
    }
  }
  return out;
}
