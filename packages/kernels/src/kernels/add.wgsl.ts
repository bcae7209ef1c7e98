import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/** out[i] = a[i] + b[i]. */
export function addWgsl(): string {
  return /* wgsl */ `
struct Params {
  length: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.length) { return; }
  out[i] = a[i] + b[i];
}
`;
}
