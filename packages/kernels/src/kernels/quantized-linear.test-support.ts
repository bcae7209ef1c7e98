import { dequantize, elementType, type GroupDtype } from '@llm/quant';
import * as reference from '../reference/index.js';
import { poisonF32, randomBlocks, randomFloats, seededRandom } from '../testing/index.js';
import type { GpuContext } from '../runtime/gpu-context.js';
import type { BlockMatrixDtype } from './block-repack.js';
import { linear, type LinearKernelKind } from './linear.js';
import { uploadMatrix, type MatrixLayout } from './matrix.js';

// The product both quantized-weight test files check: block types (GGUF) and group types (GPTQ-style).

export interface QuantizedCase {
  dtype: BlockMatrixDtype | GroupDtype;
  m: number;
  n: number;
  /** Input features in blocks of the type (32 or 256 elements; one checkpoint group of a group type). */
  blocks: number;
  kernel?: LinearKernelKind;
  how: 'quantized' | 'bytes';
  glu?: boolean;
  residual?: boolean;
  /** The weight's layout (default: uploadMatrix's choice for the adapter). */
  layout?: MatrixLayout;
}

/**
 * Runs linear on a quantized matrix uploaded from its bytes (GGUF blocks or checkpoint groups),
 * outputs poisoned first; returns got and the f64 reference on the codec-decoded weights.
 */
export async function runQuantizedLinear(ctx: GpuContext, c: QuantizedCase, seed: number): Promise<{ got: Float32Array; want: Float32Array }> {
  const rand = seededRandom(seed);
  const k = c.blocks * elementType(c.dtype).blockSize;
  const bytes = randomBlocks(c.dtype, c.n * k, rand, c.how);
  const w = dequantize(c.dtype, bytes, c.n * k);
  const x = randomFloats(rand, c.m * k);
  const residual = c.residual ? randomFloats(rand, c.m * c.n) : undefined;
  const matrix = uploadMatrix(ctx, bytes, c.n, k, c.dtype, { label: c.dtype, ...(c.layout ? { layout: c.layout } : {}) });
  const outCols = c.glu ? c.n / 2 : c.n;
  const buffers = [ctx.upload(x, 'x'), ctx.upload(poisonF32(c.m * outCols), 'out')];
  if (residual) buffers.push(ctx.upload(residual, 'residual'));
  const rec = ctx.recorder();
  linear(rec, { x: buffers[0]!, w: matrix, out: buffers[1]!, m: c.m, kernel: c.kernel, glu: c.glu, residual: buffers[2] });
  const read = rec.read(buffers[1]!, 0, c.m * outCols * 4);
  rec.submit();
  const got = new Float32Array(await read);
  for (const b of buffers) b.destroy();
  matrix.destroy();
  const full = reference.linear({ x, w, m: c.m, n: c.n, k, residual });
  if (!c.glu) return { got, want: full };
  const want = new Float32Array(c.m * outCols);
  for (let t = 0; t < c.m; t++) {
    for (let i = 0; i < outCols; i++) {
      const gate = full[t * c.n + 2 * i]!;
      want[t * outCols + i] = (gate / (1 + Math.exp(-gate))) * full[t * c.n + 2 * i + 1]!;
    }
  }
  return { got, want };
}
