import { declareKernel } from './kernel-declaration.js';

/** Invocations per row of the RMSNorm kernel. */
export const RMS_NORM_WORKGROUP = 256;

/**
 * out[r, i] = x[r, i] / sqrt(mean(x[r, :]²) + eps) * weight[i]; one workgroup per row, the sum
 * of squares reduced in workgroup memory.
 */
export function rmsNormKernel() {
  const declaration = declareKernel({
    name: 'rmsNorm',
    params: { rows: 'u32', dim: 'u32', eps: 'f32' },
    bindings: {
      x: { access: 'read', type: 'f32' },
      weight: { access: 'read', type: 'f32' },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

const WG = ${RMS_NORM_WORKGROUP}u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.dim;
  var s = 0.0;
  for (var i = lid; i < params.dim; i += WG) {
    let v = x[base + i];
    s += v * v;
  }
  partial[lid] = s;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
  }
  workgroupBarrier();
  let inv = inverseSqrt(partial[0] / f32(params.dim) + params.eps);
  for (var i = lid; i < params.dim; i += WG) {
    out[base + i] = x[base + i] * inv * weight[i];
  }
}
`;
  return { declaration, body };
}
