import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/**
 * out[t, j] = silu(gateUp[t, j]) * gateUp[t, H + j]: the gate and up projections come from one
 * fused matrix, gate in columns [0, H) and up in [H, 2H).
 */
export function siluMulKernel() {
  const declaration = declareKernel({
    name: 'siluMul',
    params: { tokens: 'u32', hidden: 'u32' },
    bindings: {
      gate_up: { access: 'read', type: 'f32' },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.tokens * params.hidden) { return; }
  let t = i / params.hidden;
  let j = i - t * params.hidden;
  let g = gate_up[t * 2u * params.hidden + j];
  let u = gate_up[t * 2u * params.hidden + params.hidden + j];
  // g / (1 + e^-g): for very negative g, e^-g overflows to inf and the result is -0, not NaN.
  out[i] = g / (1.0 + exp(-g)) * u;
}
`;
  return { declaration, body };
}
