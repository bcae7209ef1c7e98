/**
 * Workgroup counts for `count` workgroups in a 1-D sense, folded into 2-D when they exceed the
 * per-dimension limit (65535 on most adapters). Shaders recover the linear index with
 * {@link WGSL_LINEAR_WORKGROUP} and skip indices >= count.
 */
export function grid1d(count: number, maxPerDim: number): [number, number] {
  if (count <= maxPerDim) return [count, 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y];
}

/** WGSL function: linear workgroup index of a grid made by {@link grid1d}. */
export const WGSL_LINEAR_WORKGROUP = /* wgsl */ `
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}`;
