import type { MatrixDtype, TensorDtype } from '@llm/quant';
import { bf16ArrayToF32, byteLengthOf, dequantize, elementType, f16ArrayToF32, f32ArrayToF16, isOneOf, MATRIX_DTYPES } from '@llm/quant';
import type { TensorInfo, WeightSource } from '@llm/formats';
import { restoreInputOrder, UnsupportedModelError } from '@llm/formats';

// Errors name the weights, not a file: a WeightSource may span several files.
const WEIGHTS = 'model weights';

/**
 * A matrix as the backends take it: [rows, cols] row-major, f32 values, f16 bits, or the blocks
 * of a block type the GPU kernels read in place (q8_0, q4_k, ...) as the file stores them.
 */
export interface HostMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: MatrixDtype;
  readonly data: Float32Array | Uint16Array | Uint8Array;
  /**
   * An act-order GPTQ layer: stored column i is input feature inputOrder[i] (TensorInfo's), so
   * a product gathers x in this order first.
   */
  readonly inputOrder?: Uint32Array | undefined;
}

const isBlock = (dtype: TensorDtype): boolean => elementType(dtype).kind === 'quantized';

/** The matrix's values as f32 (block types decoded with @llm/quant's codecs): the CPU runner's view. */
export function matrixF32(m: HostMatrix): Float32Array {
  if (m.dtype === 'f32') return m.data as Float32Array;
  if (m.dtype === 'f16') return f16ArrayToF32(m.data as Uint16Array);
  const values = dequantize(m.dtype, m.data as Uint8Array, m.rows * m.cols);
  return m.inputOrder ? restoreInputOrder(values, m.rows, m.cols, m.inputOrder) : values;
}

/** The matrix decoded to f32 in the model's input order (no inputOrder left). */
export function decodedMatrix(m: HostMatrix): HostMatrix {
  return { rows: m.rows, cols: m.cols, dtype: 'f32', data: matrixF32(m) };
}

function sameInputOrder(a: HostMatrix, b: HostMatrix): boolean {
  if (a.inputOrder === b.inputOrder) return true;
  if (!a.inputOrder || !b.inputOrder || a.inputOrder.length !== b.inputOrder.length) return false;
  return a.inputOrder.every((v, i) => v === b.inputOrder![i]);
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
  if (info.dtype === 'bf16') return bf16ArrayToF32(data as Uint16Array);
  return dequantize(info.dtype, data as Uint8Array, info.shape.reduce((a, b) => a * b, 1));
}

/**
 * Reads a 2-D weight. f16 stays f16 (half the bytes to stream per token); the block types the
 * kernels read in place stay as their blocks; bf16 widens to f32, since WGSL has no bf16 and its
 * exponent range does not fit f16; Q2_K and Q3_K are decoded to f16.
 */
export async function readMatrix(source: WeightSource, name: string): Promise<HostMatrix> {
  const info = tensorInfo(source, name);
  if (info.shape.length !== 2) {
    throw new UnsupportedModelError(`tensor ${name} has shape [${info.shape.join(', ')}], expected a matrix`, WEIGHTS);
  }
  const [rows, cols] = info.shape as [number, number];
  if (info.dtype === 'f16') return { rows, cols, dtype: 'f16', data: (await source.read(name)) as Uint16Array };
  if (isOneOf(MATRIX_DTYPES, info.dtype) && info.dtype !== 'f32') {
    return { rows, cols, dtype: info.dtype, data: (await source.read(name)) as Uint8Array, inputOrder: info.inputOrder };
  }
  const values = await readF32(source, name);
  if (isBlock(info.dtype)) return { rows, cols, dtype: 'f16', data: f32ArrayToF16(values) };
  return { rows, cols, dtype: 'f32', data: values };
}

/** Bytes of one row of `m` as stored. */
function rowBytes(m: HostMatrix): number {
  return byteLengthOf(elementType(m.dtype), m.cols);
}

/**
 * Stacks matrices with the same column count into one (fused Q|K|V, gate/up). Matrices of one
 * type stay in it (block rows are whole blocks, so their bytes concatenate); a mix of f16 and f32
 * becomes f32, and a mix involving a block type is decoded to f32 (see stackRuns for a stack that
 * keeps each type).
 */
export function stackRows(parts: readonly HostMatrix[]): HostMatrix {
  const first = parts[0]!;
  // Act-order layers stack as they are only with one input order (Q, K and V of one GPTQ
  // checkpoint share it: the same inputs, so the same Hessian); otherwise decoded, like a type mix.
  const same = parts.every((p) => p.dtype === first.dtype && sameInputOrder(p, first));
  const dtype: MatrixDtype = same ? first.dtype : 'f32';
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  for (const p of parts) {
    if (p.cols !== first.cols) throw new UnsupportedModelError('stacked matrices must share their column count', WEIGHTS);
  }
  if (same && isBlock(dtype)) {
    const data = new Uint8Array(rows * rowBytes(first));
    let offset = 0;
    for (const p of parts) {
      data.set(p.data as Uint8Array, offset);
      offset += p.data.length;
    }
    return { rows, cols: first.cols, dtype, data, inputOrder: first.inputOrder };
  }
  const data = dtype === 'f16' ? new Uint16Array(rows * first.cols) : new Float32Array(rows * first.cols);
  let offset = 0;
  for (const p of parts) {
    const values = dtype === p.dtype ? p.data : matrixF32(p);
    data.set(values, offset);
    offset += values.length;
  }
  return { rows, cols: first.cols, dtype, data };
}

/**
 * Stacks each run of neighbouring matrices of one type: one matrix for a uniform stack, several
 * for Q|K|V of a mixed file (Q4_K_M gives some layers' V Q6_K), each to be read in its own type.
 */
export function stackRuns(parts: readonly HostMatrix[]): HostMatrix[] {
  // One product reads one input order: act-order parts that cannot share one stack as decoded f32.
  const first = parts[0]!;
  if (parts.some((p) => p.inputOrder) && !parts.every((p) => p.dtype === first.dtype && sameInputOrder(p, first))) {
    return [stackRows(parts)];
  }
  const runs: HostMatrix[][] = [];
  for (const p of parts) {
    const last = runs[runs.length - 1];
    if (last && last[0]!.dtype === p.dtype) last.push(p);
    else runs.push([p]);
  }
  return runs.map((run) => (run.length === 1 ? run[0]! : stackRows(run)));
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
  // A row in array elements: values for floats, bytes of whole blocks for block types.
  const row = m.data instanceof Uint8Array ? rowBytes(m) : m.cols;
  const data =
    m.data instanceof Uint8Array
      ? new Uint8Array(m.data.length)
      : m.data instanceof Uint16Array
        ? new Uint16Array(m.data.length)
        : new Float32Array(m.data.length);
  for (let i = 0; i < half; i++) {
    data.set(m.data.subarray(i * row, (i + 1) * row), 2 * i * row);
    data.set(m.data.subarray((half + i) * row, (half + i + 1) * row), (2 * i + 1) * row);
  }
  return { ...m, data };
}

export function layerTensor(layer: number, name: string): string {
  return `blk.${layer}.${name}`;
}
