import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { siluMulKernel } from './silu-mul.wgsl.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface SiluMulArgs {
  /** f32 [tokens, 2 * hidden]: gate in columns [0, hidden), up in [hidden, 2 * hidden). */
  gateUp: BufferBindingLike;
  /** f32 [tokens, hidden]. */
  out: BufferBindingLike;
  tokens: number;
  hidden: number;
}

/** out = silu(gate) * up (the SwiGLU of a Llama MLP). */
export function siluMul(rec: StepRecorder, a: SiluMulArgs): void {
  const name = 'siluMul';
  requireInt(name, 'tokens', a.tokens, 1);
  requireInt(name, 'hidden', a.hidden, 1);
  requireBytes(name, 'gateUp', a.gateUp, a.tokens * a.hidden * 8);
  requireBytes(name, 'out', a.out, a.tokens * a.hidden * 4);
  requireDistinct(name, a.out, { gateUp: a.gateUp });
  const groups = Math.ceil((a.tokens * a.hidden) / ELEMENTWISE_WORKGROUP);
  rec.dispatchKernel(
    kernelSource('silu-mul', '', siluMulKernel),
    { tokens: a.tokens, hidden: a.hidden },
    { gate_up: a.gateUp, out: a.out },
    grid1d(groups, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
