import type { MatrixDtype } from './matrix.js';

/** How a weight is read in WGSL: f32 vec4s, f16 packed in u32 pairs, or native f16 vec4s. */
export type WeightRead = 'f32' | 'f16-packed' | 'f16-native';

export function weightRead(dtype: MatrixDtype, shaderF16: boolean): WeightRead {
  if (dtype === 'f32') return 'f32';
  return shaderF16 ? 'f16-native' : 'f16-packed';
}

/** Declaration of binding `w` and `load_w(i)`: the vec4 of 4 consecutive output columns at index i. */
export function weightDecl(read: WeightRead, binding: number): string {
  switch (read) {
    case 'f32':
      return `@group(0) @binding(${binding}) var<storage, read> w: array<vec4<f32>>;
fn load_w(i: u32) -> vec4<f32> { return w[i]; }`;
    case 'f16-packed':
      // Without shader-f16: each u32 holds two halves (low half = lower column).
      return `@group(0) @binding(${binding}) var<storage, read> w: array<vec2<u32>>;
fn load_w(i: u32) -> vec4<f32> {
  let p = w[i];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}`;
    case 'f16-native':
      return `@group(0) @binding(${binding}) var<storage, read> w: array<vec4<f16>>;
fn load_w(i: u32) -> vec4<f32> { return vec4<f32>(w[i]); }`;
  }
}

export interface LinearVariant {
  read: WeightRead;
  bias: boolean;
  residual: boolean;
}

const PARAMS = /* wgsl */ `
struct Params {
  k: u32,            // input features K
  padded_cols4: u32, // vec4 column groups in this weight part
  cols: u32,         // valid output columns in this part
  col0: u32,         // first output column of this part
  out_stride: u32,   // N: row stride of out and residual
  row0: u32,         // first row of x / out in this dispatch
  rows: u32,         // rows in this dispatch (tiled kernel)
}
@group(0) @binding(0) var<uniform> params: Params;`;

function epilogueDecls(v: LinearVariant): string {
  let s = '';
  if (v.bias) s += '\n@group(0) @binding(4) var<storage, read> bias: array<f32>;';
  if (v.residual) s += `\n@group(0) @binding(${v.bias ? 5 : 4}) var<storage, read> residual: array<f32>;`;
  return s;
}

// Writes the 4 columns of one vec4 group for one row, adding bias and residual when present.
function storeFn(v: LinearVariant): string {
  return `
fn store4(row: u32, c4: u32, acc: vec4<f32>) {
  for (var j = 0u; j < 4u; j++) {
    let c = c4 * 4u + j;
    if (c < params.cols) {
      let o = row * params.out_stride + params.col0 + c;
      var v = acc[j];${v.bias ? '\n      v += bias[params.col0 + c];' : ''}${v.residual ? '\n      v += residual[o];' : ''}
      out[o] = v;
    }
  }
}`;
}

/** Workgroup size of the matvec kernel; one invocation per 4 output columns. */
export const MATVEC_WORKGROUP = 64;

/**
 * Matrix-vector product for a few rows (decode): out[r, n] = sum_k x[r, k] * W[n, k], for
 * up to `rows` rows at once (params.rows of them are real) so each weight element is read once
 * per dispatch. Bandwidth-bound:
 * invocation i owns output columns 4i..4i+3 and walks K, so a workgroup reads consecutive vec4s
 * of each K-major weight row.
 */
export function matvecWgsl(v: LinearVariant, rows: number): string {
  const r = Array.from({ length: rows }, (_, i) => i);
  const lines = (f: (i: number) => string, sep = '\n  ') => r.map(f).join(sep);
  return /* wgsl */ `${v.read === 'f16-native' ? 'enable f16;\n' : ''}${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
${weightDecl(v.read, 2)}
@group(0) @binding(3) var<storage, read_write> out: array<f32>;${epilogueDecls(v)}
${storeFn(v)}

@compute @workgroup_size(${MATVEC_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c4 = gid.x;
  // Invocations past the last column group read a valid one and write nothing.
  let col = min(c4, params.padded_cols4 - 1u);
  let stride = params.padded_cols4;
  let k = params.k;
  // Rows past params.rows (the variant's row count rounded up) re-read the last row and are not stored.
  ${lines((i) => `let xb${i} = (params.row0 + min(${i}u, params.rows - 1u)) * k;`)}
  ${lines((i) => `var acc${i} = vec4<f32>();`)}
  var kk = 0u;
  for (; kk + 4u <= k; kk += 4u) {
    let i0 = kk * stride + col;
    let w0 = load_w(i0);
    let w1 = load_w(i0 + stride);
    let w2 = load_w(i0 + 2u * stride);
    let w3 = load_w(i0 + 3u * stride);
    ${lines((i) => `acc${i} += x[xb${i} + kk] * w0 + x[xb${i} + kk + 1u] * w1 + x[xb${i} + kk + 2u] * w2 + x[xb${i} + kk + 3u] * w3;`, '\n    ')}
  }
  for (; kk < k; kk++) {
    let w0 = load_w(kk * stride + col);
    ${lines((i) => `acc${i} += x[xb${i} + kk] * w0;`, '\n    ')}
  }
  if (c4 >= params.padded_cols4) { return; }
  ${lines((i) => (i === 0 ? '' : `if (${i}u < params.rows) { `) + `store4(params.row0 + ${i}u, c4, acc${i});` + (i === 0 ? '' : ' }'))}
}
`;
}

/** Tile of the matmul kernel: 64 rows x 64 columns per workgroup, K in steps of 16. */
export const MATMUL_TILE_ROWS = 64;
export const MATMUL_TILE_COLS = 64;

/**
 * Tiled matrix product for many rows (prefill): a 16x16 workgroup computes a 64x64 tile of out,
 * each invocation a 4x4 block, staging 16-deep slices of x and W in workgroup memory.
 */
export function matmulWgsl(v: LinearVariant): string {
  return /* wgsl */ `${v.read === 'f16-native' ? 'enable f16;\n' : ''}${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
${weightDecl(v.read, 2)}
@group(0) @binding(3) var<storage, read_write> out: array<f32>;${epilogueDecls(v)}
${storeFn(v)}

const BK = 16u;
// x tile transposed: xs[kk][rg] holds rows 4rg..4rg+3 at depth kk, so an invocation reads its
// 4 rows as one vec4.
var<workgroup> xs: array<array<vec4<f32>, 16>, 16>;
var<workgroup> ws: array<array<vec4<f32>, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let k = params.k;
  let stride = params.padded_cols4;
  let row_base = wid.y * 64u;
  let c4 = wid.x * 16u + tx;
  let col = min(c4, stride - 1u);
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < k; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      // 1024 x elements per tile, 4 per invocation; consecutive invocations read consecutive k.
      let e = t + i * 256u;
      let r = e / BK;
      let kk = e % BK;
      let row = row_base + r;
      var xv = 0.0;
      if (row < params.rows && k0 + kk < k) { xv = x[(params.row0 + row) * k + k0 + kk]; }
      xs[kk][r / 4u][r % 4u] = xv;
    }
    var wv = vec4<f32>();
    if (k0 + ty < k) { wv = load_w((k0 + ty) * stride + col); }
    ws[ty][tx] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let wk = ws[kk][tx];
      let xk = xs[kk][ty];
      acc0 += xk.x * wk;
      acc1 += xk.y * wk;
      acc2 += xk.z * wk;
      acc3 += xk.w * wk;
    }
    workgroupBarrier();
  }
  if (c4 >= stride) { return; }
  let r0 = row_base + ty * 4u;
  if (r0 < params.rows) { store4(params.row0 + r0, c4, acc0); }
  if (r0 + 1u < params.rows) { store4(params.row0 + r0 + 1u, c4, acc1); }
  if (r0 + 2u < params.rows) { store4(params.row0 + r0 + 2u, c4, acc2); }
  if (r0 + 3u < params.rows) { store4(params.row0 + r0 + 3u, c4, acc3); }
}
`;
}
