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
