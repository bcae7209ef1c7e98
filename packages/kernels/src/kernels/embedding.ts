import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { embeddingKernel } from './embedding.wgsl.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import type { GpuMatrix } from './matrix.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface EmbeddingArgs {
  /** u32 [count] token ids; an id >= vocab gives a NaN row. */
  ids: BufferBindingLike;
  /** [vocab, dim] from uploadMatrix (rows = vocab, cols = dim). */
  table: GpuMatrix;
  /** f32 [count, dim]. */
  out: BufferBindingLike;
  count: number;
}

/** out[t] = table[ids[t]]. */
export function embedding(rec: StepRecorder, a: EmbeddingArgs): void {
  const name = 'embedding';
  const { table } = a;
  requireInt(name, 'count', a.count, 1);
  requireBytes(name, 'ids', a.ids, a.count * 4);
  requireBytes(name, 'out', a.out, a.count * table.cols * 4);
  requireDistinct(name, a.out, { ids: a.ids });
  const groups = grid1d(
    Math.ceil((a.count * table.cols) / ELEMENTWISE_WORKGROUP),
    rec.ctx.limits.maxComputeWorkgroupsPerDimension,
  );
  if (table.parts.some((p) => p.pairs)) {
    throw new KernelShapeError(name, `${table.label}: a matrix uploaded for int8 activations is read by linear only`);
  }
  table.parts.forEach((part, i) => {
    const params = {
      count: a.count,
      dim: table.cols,
      vocab: table.rows,
      row_start: part.rowStart,
      rows: part.rows,
      row_stride: table.rowStride,
      write_invalid: i === 0 ? 1 : 0,
      nan: Number.NaN,
    };
    // Each part in its own format: a quantized table is read in place, a group per element.
    const lanes = part.lanes ?? 0;
    const kernel = kernelSource('embedding', `${part.dtype}${lanes ? `l${lanes}` : ''}`, () =>
      embeddingKernel(part.dtype, lanes),
    );
    rec.dispatchKernel(
      kernel,
      params,
      { ids: a.ids, table: part.buffer, table_scales: part.scales, out: a.out },
      groups,
    );
  });
}
