import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/** The largest row the Hadamard kernel transforms (an invocation holds one in private memory). */
export const HADAMARD_MAX_DIM = 256;

/**
 * The Walsh-Hadamard transform of rows of x in place, one invocation per (token, head) row: the
 * row into private memory, the butterflies stage by stage as @llm/quant's hadamardTransform takes
 * them, then each value times `scale` back into x.
 */
export function hadamardKernel() {
  const declaration = declareKernel({
    name: 'hadamardRows',
    params: { tokens: 'u32', heads: 'u32', dim: 'u32', stride: 'u32', offset: 'u32', scale: 'f32' },
    bindings: { x: { access: 'read_write', type: 'f32' } },
  });
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.tokens * params.heads) { return; }
  let t = i / params.heads;
  let at = t * params.stride + params.offset + (i - t * params.heads) * params.dim;
  let n = params.dim;
  var r: array<f32, ${HADAMARD_MAX_DIM}>;
  for (var j = 0u; j < n; j++) { r[j] = x[at + j]; }
  for (var h = 1u; h < n; h <<= 1u) {
    for (var s = 0u; s < n; s += 2u * h) {
      for (var j = s; j < s + h; j++) {
        let a = r[j];
        let b = r[j + h];
        r[j] = a + b;
        r[j + h] = a - b;
      }
    }
  }
  for (var j = 0u; j < n; j++) { x[at + j] = r[j] * params.scale; }
}
`;
  return { declaration, body };
}
