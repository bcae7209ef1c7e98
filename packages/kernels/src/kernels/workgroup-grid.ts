import type { GpuContext } from '../runtime/gpu-context.js';

/** Invocations per workgroup of the elementwise kernels (one invocation per element). */
export const ELEMENTWISE_WORKGROUP = 256;

/**
 * Workgroup counts for `count` workgroups in a 1-D sense, folded into 2-D when they exceed the
 * per-dimension limit (65535 on most adapters). Shaders recover the linear index as
 * `wid.y * num_workgroups.x + wid.x` and skip indices >= count.
 */
export function grid1d(count: number, maxPerDim: number): [number, number] {
  if (count <= maxPerDim) return [count, 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y];
}

/**
 * Invocations per workgroup for `invocations` in all on a CPU adapter, whose kernels give each
 * invocation whole rows (lavapipe runs a workgroup on one core, its subgroups one after another).
 * lavapipe hands each of its threads an equal run of workgroups and every workgroup costs its
 * full size (lanes past the end recompute the last row), so few rows want one-subgroup
 * workgroups: 288 rows x 4 per invocation as 2 workgroups of 64 left one core 8 of the 9
 * subgroups, and 9 workgroups of 8 ran 1.5x faster. From 32 subgroups on, workgroups grow up to
 * 64 invocations while at least 32 of them remain, which keeps any thread count's share within a
 * workgroup of even.
 */
export function cpuWorkgroup(invocations: number, subgroup: number): number {
  const subgroups = Math.ceil(invocations / subgroup);
  return subgroup * Math.min(Math.max(1, Math.floor(subgroups / 32)), Math.max(1, Math.floor(64 / subgroup)));
}

/**
 * The adapter's subgroup size where kernels may bake it in: the subgroups feature with a fixed
 * size that is a power of two of at least 2 (lavapipe: 8), else 0.
 */
export function fixedSubgroupSize(ctx: Pick<GpuContext, 'features' | 'subgroupSize'>): number {
  const size = ctx.subgroupSize;
  return ctx.features.subgroups && size !== undefined && size >= 2 && (size & (size - 1)) === 0 ? size : 0;
}
