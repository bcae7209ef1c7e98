import { declareKernel } from './kernel-declaration.js';
import { GROUP_I8_WGSL, GROUP_SQUARES_WGSL } from './i8-quantize.wgsl.js';

function rmsNormDeclaration(unit: 'f32' | 'vec4<f32>', int8 = false) {
  return declareKernel({
    name: 'rmsNorm',
    params: { rows: 'u32', dim: 'u32', eps: 'f32' },
    bindings: {
      x: { access: 'read', type: unit },
      weight: { access: 'read', type: unit },
      out: { access: 'read_write', type: unit },
      xq: { access: 'read_write', type: 'vec4<i32>', present: int8 },
      xg: { access: 'read_write', type: 'vec2<f32>', present: int8 },
      xn: { access: 'read_write', type: 'f32', present: int8 },
    },
  });
}

/** Invocations per row of the RMSNorm kernel. */
export const RMS_NORM_WORKGROUP = 256;

/**
 * out[r, i] = x[r, i] / sqrt(mean(x[r, :]²) + eps) * weight[i]; one workgroup per row, the sum
 * of squares reduced in workgroup memory.
 */
export function rmsNormKernel() {
  const declaration = rmsNormDeclaration('f32');
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

/**
 * The same for a CPU adapter: one invocation per row streams it twice with 16-byte loads (4 | dim)
 * or 4-byte ones, no workgroup memory and no barrier. On lavapipe each barrier of the reduction
 * switches between the workgroup's 32 subgroups; a 110M decode step's RMSNorms took 0.38 ms each
 * for one row of 768.
 */
export function rmsNormRowKernel(vec4: boolean, workgroup: number, int8 = false) {
  const declaration = rmsNormDeclaration(vec4 ? 'vec4<f32>' : 'f32', int8);
  const per = vec4 ? 4 : 1;
  const sum = vec4 ? 's.x + s.y + s.z + s.w' : 's';
  // With `int8` (vec4, dim % 32 == 0) the norm's input also goes out for a product over int8
  // activations, its scale deferred: x times the weight quantized per 32-value group, and each
  // group's sum of squares of x in groupSquares' order, from which the product scales its output.
  const write = int8
    ? `for (var g = 0u; g < n / 8u; g++) {
    var xv: array<vec4<f32>, 8>;
    var y: array<vec4<f32>, 8>;
    var amax = 0.0;
    for (var j = 0u; j < 8u; j++) {
      let i = g * 8u + j;
      xv[j] = x[base + i];
      out[base + i] = xv[j] * inv * weight[i];
      y[j] = xv[j] * weight[i];
      let a = abs(y[j]);
      amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    storeGroupI8(base / 8u + g, y, amax);
    xn[base / 8u + g] = groupSquares(xv);
  }`
    : `for (var i = 0u; i < n; i++) {
    out[base + i] = x[base + i] * inv * weight[i];
  }`;
  const body = /* wgsl */ `${int8 ? GROUP_I8_WGSL + GROUP_SQUARES_WGSL : ''}

@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * ${workgroup}u + lid;
  if (row >= params.rows) { return; }
  let n = params.dim / ${per}u;
  let base = row * n;
  var s = ${vec4 ? 'vec4<f32>(0.0)' : '0.0'};
  for (var i = 0u; i < n; i++) {
    let v = x[base + i];
    s = fma(v, v, s);
  }
  let inv = inverseSqrt((${sum}) / f32(params.dim) + params.eps);
  ${write}
}
`;
  return { declaration, body };
}
