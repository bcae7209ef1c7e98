import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { HADAMARD_MAX_DIM, hadamardKernel } from './hadamard.wgsl.js';
import { requireInt, requireRows } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface HadamardRowsArgs {
  /** f32, transformed in place: head h of token t is the `dim` values from t * stride + offset + h * dim. */
  x: BufferBindingLike;
  tokens: number;
  heads: number;
  /** A power of two up to 256. */
  dim: number;
  /** Elements between tokens; default heads * dim. */
  stride?: number;
  /** Elements before a token's first head; default 0. */
  offset?: number;
  /** Each transformed value times this; default 1. */
  scale?: number;
}

/**
 * The unnormalized Walsh-Hadamard transform of every (token, head) row of x, in place, times
 * `scale` (@llm/quant's hadamardTransform, bit for bit). With scale 1 for keys and 1 / dim for
 * queries every score q · k is unchanged: what an i4 KV pool's keys are stored as (see @llm/quant
 * kv-i4.ts).
 */
export function hadamardRows(rec: StepRecorder, a: HadamardRowsArgs): void {
  const name = 'hadamardRows';
  requireInt(name, 'tokens', a.tokens, 1);
  requireInt(name, 'heads', a.heads, 1);
  requireInt(name, 'dim', a.dim, 1, HADAMARD_MAX_DIM);
  if ((a.dim & (a.dim - 1)) !== 0) throw new KernelShapeError(name, `dim must be a power of two, got ${a.dim}`);
  const scale = a.scale ?? 1;
  if (!Number.isFinite(scale)) throw new KernelShapeError(name, `scale must be finite, got ${scale}`);
  const len = a.heads * a.dim;
  const stride = a.stride ?? len;
  const offset = a.offset ?? 0;
  requireRows(name, 'x', a.x, { tokens: a.tokens, len, what: 'heads * dim', stride, offset });
  rec.dispatchKernel(
    kernelSource('hadamard-rows', '', hadamardKernel),
    { tokens: a.tokens, heads: a.heads, dim: a.dim, stride, offset, scale },
    { x: a.x },
    grid1d(Math.ceil((a.tokens * a.heads) / ELEMENTWISE_WORKGROUP), rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
