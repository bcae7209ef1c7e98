import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/** out[i] = a[i] + b[i]. */
export function addKernel() {
  const declaration = declareKernel({
    name: 'add',
    params: { length: 'u32' },
    bindings: {
      a: { access: 'read', type: 'f32' },
      b: { access: 'read', type: 'f32' },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (i >= params.length) { return; }
  out[i] = a[i] + b[i];
}
`;
  return { declaration, body };
}
