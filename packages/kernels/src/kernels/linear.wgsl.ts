import { declareKernel } from './kernel-declaration.js';
import type { StorageFormat } from './storage-format.js';

export interface LinearVariant {
  /** How the weight is stored; `load_w(i)` reads vec4 i: 4 consecutive output columns. */
  weights: StorageFormat;
  bias: boolean;
  residual: boolean;
}

/** The interface of both linear kernels; x is read as f32s or, for shared subgroup loads, vec4s. */
function linearDeclaration(v: LinearVariant, x: 'f32' | 'vec4<f32>', enable: string[]) {
  return declareKernel({
    name: 'linear',
    params: {
      k: 'u32', // input features K
      padded_cols4: 'u32', // vec4 column groups in this weight part
      cols: 'u32', // valid output columns in this part
      col0: 'u32', // first output column of this part
      out_stride: 'u32', // N: row stride of out and residual
      row0: 'u32', // first row of x / out in this dispatch
      rows: 'u32', // real rows in this dispatch
    },
    bindings: {
      x: { access: 'read', type: x },
      w: { access: 'read', format: v.weights, unit: 'vec4', load: 'load_w' },
      out: { access: 'read_write', type: 'f32' },
      bias: { access: 'read', type: 'f32', present: v.bias },
      residual: { access: 'read', type: 'f32', present: v.residual },
    },
    enable,
  });
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

/**
 * Workgroup shape of the matvec kernel: `columnGroups` invocations side by side, each owning 4
 * output columns, times `kSlices` invocations that split K between them and add up their partial
 * sums in workgroup memory at the end.
 */
export interface MatvecShape {
  columnGroups: number;
  kSlices: number;
  /**
   * Subgroup size for subgroup-shared x loads, or 0. A CPU driver turns every per-invocation
   * load into a per-lane gather, even at a uniform address, so with several rows the x loads
   * cost more than the weights; with this set, each lane loads one vec4 of x for the next
   * 4 * size K rows and the others read it with subgroupShuffle. Needs K % 4 == 0 and kSlices 1.
   */
  xSubgroup: number;
}

/**
 * On a CPU adapter (lavapipe runs a workgroup on one core, an invocation per SIMD lane) 64 column
 * groups and no K split read the weights at full speed with no reduction. A GPU needs many more
 * workgroups in flight than N/256: 16 column groups x 16 K slices gives N/64 workgroups whose
 * warps still read 256 contiguous bytes per weight row.
 */
export function matvecShape(cpuAdapter: boolean): MatvecShape {
  return cpuAdapter
    ? { columnGroups: 64, kSlices: 1, xSubgroup: 0 }
    : { columnGroups: 16, kSlices: 16, xSubgroup: 0 };
}

/**
 * Matrix-vector product for a few rows (decode): out[r, n] = sum_k x[r, k] * W[n, k], for up to
 * `rows` rows at once (params.rows of them are real) so each weight element is read once per
 * dispatch. Bandwidth-bound: invocation (g, s) owns output columns 4g..4g+3 of its workgroup's
 * block and every kSlices-th group of 4 K rows from 4s, so neighbouring invocations read
 * neighbouring vec4s of each K-major weight row.
 */
export function matvecKernel(v: LinearVariant, rows: number, shape: MatvecShape) {
  const r = Array.from({ length: rows }, (_, i) => i);
  const lines = (f: (i: number) => string, sep = '\n  ') => r.map(f).join(sep);
  const { columnGroups: cg, kSlices: ks, xSubgroup: sg } = shape;
  // One x element: scalar, or a component of the vec4 array.
  const xAt = (i: string): string => (sg > 0 ? `x[(${i}) / 4u][(${i}) % 4u]` : `x[${i}]`);
  const mainLoop =
    sg > 0
      ? `let k4 = k / 4u;
  let k_full = (k / (4u * SG)) * 4u * SG;
  for (var kk = 0u; kk < k_full; kk += 4u * SG) {
    // Lane l holds x[row, kk + 4l .. kk + 4l + 3]; row starts are vec4-aligned since K % 4 == 0.
    ${lines((i) => `let xl${i} = x[xb${i} / 4u + kk / 4u + lane];`, '\n    ')}
    for (var j = 0u; j < SG; j++) {
      let i0 = (kk + 4u * j) * stride + col;
      let w0 = load_w(i0);
      let w1 = load_w(i0 + stride);
      let w2 = load_w(i0 + 2u * stride);
      let w3 = load_w(i0 + 3u * stride);
      ${lines(
        (i) => `let xv${i} = subgroupShuffle(xl${i}, j);
      acc${i} += xv${i}.x * w0 + xv${i}.y * w1 + xv${i}.z * w2 + xv${i}.w * w3;`,
        '\n      ',
      )}
    }
  }`
      : `let k_full = k & ~3u;
  for (var kk = slice * 4u; kk < k_full; kk += KS * 4u) {
    let i0 = kk * stride + col;
    let w0 = load_w(i0);
    let w1 = load_w(i0 + stride);
    let w2 = load_w(i0 + 2u * stride);
    let w3 = load_w(i0 + 3u * stride);
    ${lines((i) => `acc${i} += ${xAt(`xb${i} + kk`)} * w0 + ${xAt(`xb${i} + kk + 1u`)} * w1 + ${xAt(`xb${i} + kk + 2u`)} * w2 + ${xAt(`xb${i} + kk + 3u`)} * w3;`, '\n    ')}
  }`;
  const reduce =
    ks === 1
      ? ''
      : `
  // Partial sums of the K slices, one row at a time: kSlices x columnGroups vec4s.
  ${lines(
    (i) => `partial[li] = acc${i};
  for (var half = KS / 2u; half > 0u; half >>= 1u) {
    workgroupBarrier();
    if (slice < half) { partial[li] += partial[li + half * CG]; }
  }
  workgroupBarrier();
  acc${i} = partial[group];
  workgroupBarrier();`,
  )}`;
  const declaration = linearDeclaration(v, sg > 0 ? 'vec4<f32>' : 'f32', sg > 0 ? ['subgroups'] : []);
  const body = /* wgsl */ `${storeFn(v)}

const CG = ${cg}u;
const KS = ${ks}u;${ks === 1 ? '' : '\nvar<workgroup> partial: array<vec4<f32>, CG * KS>;'}${sg > 0 ? `\nconst SG = ${sg}u;` : ''}

@compute @workgroup_size(CG * KS)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>${
    sg > 0 ? ',\n        @builtin(subgroup_invocation_id) lane: u32' : ''
  }) {
  let group = li % CG;
  ${
    ks === 1
      ? `// One slice: a constant keeps k, and so every x address, visibly uniform.
  let slice = 0u;`
      : 'let slice = li / CG;'
  }
  let c4 = wid.x * CG + group;
  // Invocations past the last column group read a valid one and write nothing.
  let col = min(c4, params.padded_cols4 - 1u);
  let stride = params.padded_cols4;
  let k = params.k;
  // Rows past params.rows (the variant's row count rounded up) re-read the last row and are not stored.
  ${lines((i) => `let xb${i} = (params.row0 + min(${i}u, params.rows - 1u)) * k;`)}
  ${lines((i) => `var acc${i} = vec4<f32>();`)}
  ${mainLoop}
  if (slice == 0u) {
    for (var kk = k_full; kk < k; kk++) {
      let w0 = load_w(kk * stride + col);
      ${lines((i) => `acc${i} += ${xAt(`xb${i} + kk`)} * w0;`, '\n      ')}
    }
  }${reduce}
  if (slice != 0u || c4 >= params.padded_cols4) { return; }
  ${lines((i) => (i === 0 ? '' : `if (${i}u < params.rows) { `) + `store4(params.row0 + ${i}u, c4, acc${i});` + (i === 0 ? '' : ' }'))}
}
`;
  return { declaration, body };
}

/** Tile of the matmul kernel: 64 rows x 64 columns per workgroup, K in steps of 16. */
export const MATMUL_TILE_ROWS = 64;
export const MATMUL_TILE_COLS = 64;

/**
 * Tiled matrix product for many rows (prefill): a 16x16 workgroup computes a 64x64 tile of out,
 * each invocation a 4x4 block, staging 16-deep slices of x and W in workgroup memory.
 */
export function matmulKernel(v: LinearVariant) {
  const declaration = linearDeclaration(v, 'f32', []);
  const body = /* wgsl */ `${storeFn(v)}

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
  return { declaration, body };
}
