import type { GpuDtype } from '@llm/quant';
import { bf16ArrayToF32, f16ArrayToF32 } from '@llm/quant';
import type { TensorInfo, WeightSource } from '@llm/formats';
import { UnsupportedModelError } from '@llm/formats';

/** A matrix as the backends take it: [rows, cols] row-major, f32 values or f16 bits. */
// Errors name the weights, not a file: a WeightSource may span several files.
const WEIGHTS = 'model weights';

export interface HostMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: GpuDtype;
  readonly data: Float32Array | Uint16Array;
}

export function tensorInfo(source: WeightSource, name: string): TensorInfo {
  const info = source.tensors.get(name);
  if (!info) throw new UnsupportedModelError(`the model has no tensor ${name}`, WEIGHTS);
  return info;
}

/** Reads a tensor as f32 whatever its storage type (norms, biases, RoPE factors). */
export async function readF32(source: WeightSource, name: string): Promise<Float32Array> {
  const info = tensorInfo(source, name);
  const data = await source.read(name);
  if (info.dtype === 'f32') return data as Float32Array;
  if (info.dtype === 'f16') return f16ArrayToF32(data as Uint16Array);
  return bf16ArrayToF32(data as Uint16Array);
}

/**
 * Reads a 2-D weight. f16 stays f16 (half the bytes to stream per token); bf16 widens to f32,
 * since WGSL has no bf16 and its exponent range does not fit f16.
 */
export async function readMatrix(source: WeightSource, name: string): Promise<HostMatrix> {
  const info = tensorInfo(source, name);
  if (info.shape.length !== 2) {
    throw new UnsupportedModelError(`tensor ${name} has shape [${info.shape.join(', ')}], expected a matrix`, WEIGHTS);
  }
  const [rows, cols] = info.shape as [number, number];
  if (info.dtype === 'f16') return { rows, cols, dtype: 'f16', data: (await source.read(name)) as Uint16Array };
  return { rows, cols, dtype: 'f32', data: await readF32(source, name) };
}

/** Stacks matrices with the same column count and dtype into one (fused gate/up). */
export function stackRows(parts: readonly HostMatrix[]): HostMatrix {
  const first = parts[0]!;
  const dtype = parts.every((p) => p.dtype === first.dtype) ? first.dtype : 'f32';
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const data = dtype === 'f16' ? new Uint16Array(rows * first.cols) : new Float32Array(rows * first.cols);
  let offset = 0;
  for (const p of parts) {
    if (p.cols !== first.cols) throw new UnsupportedModelError('stacked matrices must share their column count', WEIGHTS);
    const values = dtype === p.dtype ? p.data : f16ArrayToF32(p.data as Uint16Array);
    data.set(values, offset);
    offset += values.length;
  }
  return { rows, cols: first.cols, dtype, data };
}

/** The biases of stacked matrices as one vector, zeros for a matrix without; undefined when none has one. */
export function stackBiases(biases: readonly (Float32Array | undefined)[], rows: readonly number[]): Float32Array | undefined {
  if (biases.every((b) => b === undefined)) return undefined;
  const out = new Float32Array(rows.reduce((a, b) => a + b, 0));
  let offset = 0;
  biases.forEach((b, i) => {
    if (b) out.set(b, offset);
    offset += rows[i]!;
  });
  return out;
}

/**
 * The rows of a matrix stacked as [A; B] (two halves of equal size) interleaved as
 * A0, B0, A1, B1, ...: a gate/up pair then sits in neighbouring rows for a fused SwiGLU product.
 */
export function interleaveHalves(m: HostMatrix): HostMatrix {
  const half = m.rows / 2;
  const data = m.data instanceof Uint16Array ? new Uint16Array(m.data.length) : new Float32Array(m.data.length);
  for (let i = 0; i < half; i++) {
    data.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), 2 * i * m.cols);
    data.set(m.data.subarray((half + i) * m.cols, (half + i + 1) * m.cols), (2 * i + 1) * m.cols);
  }
  return { ...m, data };
}

export function layerTensor(layer: number, name: string): string {
  return `blk.${layer}.${name}`;
}
