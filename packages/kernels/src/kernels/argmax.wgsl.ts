import { declareKernel } from './kernel-declaration.js';

/** Invocations per row of the argmax and sampling kernels. */
export const ROW_WORKGROUP = 256;

/**
 * WGSL `ordered_key(v)`: a u32 that sorts like the f32 v (-inf < ... < -0 = +0 < ... < +inf),
 * with every NaN mapped above +inf.
 */
export const WGSL_ORDERED_KEY = /* wgsl */ `
fn ordered_key(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; }
  if (bits == 0x80000000u) { return 0x80000000u; }
  if ((bits >> 31u) == 1u) { return ~bits; }
  return bits | 0x80000000u;
}`;

/**
 * out[r] = index of the largest logit of row r; ties go to the lowest index; a NaN counts as
 * larger than every number (as torch.argmax does), so a row with NaN returns its first NaN.
 */
export function argmaxKernel() {
  const declaration = declareKernel({
    name: 'argmax',
    params: { rows: 'u32', vocab: 'u32' },
    bindings: {
      logits: { access: 'read', type: 'f32' },
      out: { access: 'read_write', type: 'u32' },
    },
  });
  const body = /* wgsl */ `${WGSL_ORDERED_KEY}

const WG = ${ROW_WORKGROUP}u;
var<workgroup> best_key: array<u32, WG>;
var<workgroup> best_index: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.vocab;
  var key = 0u;
  var index = 0xffffffffu;
  // Ascending indices with a strict comparison keep the first of equal keys.
  for (var i = lid; i < params.vocab; i += WG) {
    let k = ordered_key(logits[base + i]);
    if (index == 0xffffffffu || k > key) {
      key = k;
      index = i;
    }
  }
  best_key[lid] = key;
  best_index[lid] = index;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) {
      let ok = best_key[lid + stride];
      let oi = best_index[lid + stride];
      if (oi != 0xffffffffu && (best_index[lid] == 0xffffffffu || ok > best_key[lid] ||
          (ok == best_key[lid] && oi < best_index[lid]))) {
        best_key[lid] = ok;
        best_index[lid] = oi;
      }
    }
  }
  if (lid == 0u) { out[row] = best_index[0]; }
}
`;
  return { declaration, body };
}
