import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/** out[t, i] = x[t, order[i]]: every row of x in the column order `order` (a permutation of dim). */
export function gatherColumnsKernel() {
  const declaration = declareKernel({
    name: 'gatherColumns',
    params: { count: 'u32', dim: 'u32' },
    bindings: {
      x: { access: 'read', type: 'f32' },
      order: { access: 'read', type: 'u32' },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.count * params.dim) { return; }
  let t = i / params.dim;
  out[i] = x[t * params.dim + order[i - t * params.dim]];
}
`;
  return { declaration, body };
}
