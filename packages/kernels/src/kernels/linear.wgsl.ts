import { declareKernel, type DeclaredKernel, type KernelDeclaration } from './kernel-declaration.js';
import { laneRowBase, laneUnitOffset } from './lanes-layout.js';
import type { StorageFormat } from './storage-format.js';

/**
 * What happens to each output feature n of token t:
 * - 'store': out[t, n] (+ bias[n]) (+ residual[t, n]);
 * - 'split': features before `params.split` to out, the rest to out2, each as its own dense
 *   matrix (one product for Q and K|V, say);
 * - 'glu': weight rows interleaved as (gate_i, up_i): out[t, i] = silu(gate_i) * up_i.
 */
export type LinearEpilogue = 'store' | 'split' | 'glu';

export interface LinearVariant {
  /** How the weight is stored; row-major, `row_stride` elements per output feature. */
  weights: StorageFormat;
  bias: boolean;
  residual: boolean;
  epilogue: LinearEpilogue;
}

/** What a product does with its sums, whatever its weights: the variant less the weight format. */
export type LinearEpilogueVariant = Pick<LinearVariant, 'bias' | 'residual' | 'epilogue'>;

/** An epilogue variant as part of a kernel cache key ('+bias+residual+store', ...). */
export const epilogueKey = (v: LinearEpilogueVariant): string =>
  `${v.bias ? '+bias' : ''}${v.residual ? '+residual' : ''}+${v.epilogue}`;

export const LINEAR_PARAMS = {
  k: 'u32', // input features K
  row_stride: 'u32', // elements per stored weight row (K padded)
  n_count: 'u32', // output features held by this weight part
  n_start: 'u32', // first output feature of this part
  out_stride: 'u32', // N: row stride of out and residual
  t0: 'u32', // first token (row of x / out) of this dispatch
  tokens: 'u32', // real tokens in this dispatch
  split: 'u32', // 'split': first output feature that goes to out2
} as const;

/** The output and epilogue bindings of every linear kernel, after its own x and weight bindings. */
export const epilogueBindings = (v: LinearEpilogueVariant) =>
  ({
    out: { access: 'read_write', type: 'f32' },
    out2: { access: 'read_write', type: 'f32', present: v.epilogue === 'split' },
    bias: { access: 'read', type: 'f32', present: v.bias },
    residual: { access: 'read', type: 'f32', present: v.residual },
  }) as const;

/** The interface of the linear kernels; x and the weights are read as `x` / through the format. */
function linearDeclaration(
  v: LinearVariant,
  x: 'f32' | 'vec4<f32>',
  w: { type: string } | { unit: 'vec4' | 'scalar' },
  enable: string[] = [],
  opts: { xUniform?: number | undefined; vectorScales?: boolean | undefined } = {},
) {
  return declareKernel({
    name: 'linear',
    params: LINEAR_PARAMS,
    bindings: {
      x: opts.xUniform ? { access: 'uniform', type: `array<vec4<f32>, ${opts.xUniform}>` } : { access: 'read', type: x },
      w: 'type' in w ? { access: 'read', type: w.type } : { access: 'read', format: v.weights, unit: w.unit, load: 'load_w' },
      // Block formats: the scales of w, read by the format's loader and group reads.
      w_scales: { access: 'read', type: opts.vectorScales ? 'vec4<u32>' : 'u32', present: v.weights.blocks !== undefined },
      ...epilogueBindings(v),
    },
    enable,
  });
}

/** Every linear kernel variant: the same params and bindings, whatever the kernel. */
export type LinearKernel =
  ReturnType<typeof linearDeclaration> extends KernelDeclaration<infer P, infer B> ? DeclaredKernel<P, B> : never;

// store(t, n, acc) writes output feature n (local to the part) of token t, adding bias and
// residual when present; with 'glu', store_pair(t, n, gate, up) writes feature pair n / 2 instead.
// store4(t, n, acc) writes features n..n+3 (n a multiple of 4) that exist, either way.
export function storeFn(v: LinearEpilogueVariant): string {
  const bias = v.bias ? '\n  v += bias[params.n_start + n];' : '';
  if (v.epilogue === 'glu') {
    return `
fn store_pair(t: u32, n: u32, gate: f32, up: f32) {
  out[t * params.out_stride + (params.n_start + n) / 2u] = gate / (1.0 + exp(-gate)) * up;
}

fn store4(t: u32, n: u32, acc: vec4<f32>) {
  if (n < params.n_count) { store_pair(t, n, acc.x, acc.y); }
  if (n + 2u < params.n_count) { store_pair(t, n + 2u, acc.z, acc.w); }
}`;
  }
  const store4 = `

fn store4(t: u32, n: u32, acc: vec4<f32>) {
  for (var j = 0u; j < 4u; j++) {
    if (n + j < params.n_count) { store(t, n + j, acc[j]); }
  }
}`;
  if (v.epilogue === 'split') {
    return `
fn store(t: u32, n: u32, acc: f32) {
  let g = params.n_start + n;
  var v = acc;${bias}
  if (g < params.split) {
    out[t * params.split + g] = v;
  } else {
    out2[t * (params.out_stride - params.split) + g - params.split] = v;
  }
}${store4}`;
  }
  return `
fn store(t: u32, n: u32, acc: f32) {
  let o = t * params.out_stride + params.n_start + n;
  var v = acc;${bias}${v.residual ? '\n  v += residual[o];' : ''}
  out[o] = v;
}${store4}`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);


/**
 * The one order in which the CPU-adapter kernels (stream and tile) sum an output: a single f32
 * accumulator per (feature, token), taking 4 input features at a time in increasing k, each
 * product fused into the running sum. Both kernels call this one function with the same operands
 * (4 weights and the 4 matching x values), so the compiler sees the same operations in both and
 * a token's output has the same bits whatever kernel, pass or row position computed it.
 */
const ACCUMULATE_FN = /* wgsl */ `
fn accumulate(acc: f32, w: vec4<f32>, x: vec4<f32>) -> f32 {
  return fma(w.w, x.w, fma(w.z, x.z, fma(w.y, x.y, fma(w.x, x.x, acc))));
}`;

/**
 * Shape of the streaming matvec: each invocation owns `rows` whole weight rows for `tokens`
 * tokens; `subgroup` lanes share the x loads.
 */
export interface StreamShape {
  rows: number;
  tokens: number;
  workgroup: number;
  subgroup: number;
  /**
   * K when x is bound as a uniform buffer of the pass's `tokens` rows (from token t0 on, so the
   * kernel indexes it from 0). lavapipe loads a uniform with a varying index as one gather for
   * all lanes, a storage buffer lane by lane with a bounds check per component.
   */
  xUniform?: number | undefined;
  /**
   * Block formats with super-block reads (BlockReads.superBlock): each row's scales loaded once
   * per 8 groups instead of per group. Needs K % 256 == 0.
   */
  superBlocks?: boolean | undefined;
}

/** vec4s of x a stream kernel declares as a uniform (the pass's tokens of K), or undefined. */
const xUniformVec4s = (s: StreamShape) => s.xUniform && (s.tokens * s.xUniform) / 4;

/** Row of x (in vec4s) where token `t` of the pass starts: from 0 when x is bound per pass. */
const xRow = (s: StreamShape, t: number) =>
  s.xUniform ? `min(${t}u, params.tokens - 1u) * k4` : `(params.t0 + min(${t}u, params.tokens - 1u)) * k4`;

/**
 * Matrix-vector product for a CPU adapter (lavapipe: an invocation per SIMD lane, a workgroup per
 * core). Each invocation streams its `rows` weight rows from start to end with 16-byte loads (4
 * f32s, or 8 halves in a vec4<u32>) and no barrier. x costs as much per load as the weights there
 * (every storage load is a per-lane gather), so each lane loads a different vec4 of x and
 * `subgroupBroadcast` with a constant lane hands it to the others: one x load per 4 * subgroup
 * input features per token. Needs K % (4 * subgroup) == 0 and a fixed subgroup size.
 */
export function streamMatvecKernel(v: LinearVariant, s: StreamShape) {
  if (v.weights.blocks) return streamBlockMatvecKernel(v, s);
  const f16 = v.weights.dtype === 'f16';
  const lanes = v.weights.lanes;
  const R = range(s.rows);
  const T = range(s.tokens);
  const J = range(s.subgroup);
  const declaration = linearDeclaration(v, 'vec4<f32>', { type: f16 ? 'vec4<u32>' : 'vec4<f32>' }, ['subgroups'], {
    xUniform: xUniformVec4s(s),
  });
  // Weight units per row: vec4<f32> = 4 elements, vec4<u32> = 8 halves.
  const per = f16 ? 8 : 4;
  // Lane j's x vec4 is broadcast right before the weights that use it, so only one group of x
  // registers is live at a time (lavapipe keeps every f32 of an invocation in a 256-bit register).
  const broadcast = (j: number) => T.map((t) => `let x${t}_${j} = subgroupBroadcast(xl${t}, ${j}u);`).join('\n      ');
  const inner = f16
    ? range(s.subgroup / 2)
        .map(
          (m) => `{
      ${broadcast(2 * m)}
      ${broadcast(2 * m + 1)}
      ${R.map(
        (r) => `{
        let w = w[wb${r} + ${laneUnitOffset(`${m}u`, lanes)}];
        let lo = vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
        let hi = vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w));
        ${T.map((t) => `a${t}_${r} = accumulate(accumulate(a${t}_${r}, lo, x${t}_${2 * m}), hi, x${t}_${2 * m + 1});`).join('\n        ')}
      }`,
      ).join('\n      ')}
    }`,
        )
        .join('\n    ')
    : J.map(
        (j) => `{
      ${broadcast(j)}
      ${R.map(
        (r) => `{
        let w = w[wb${r} + ${laneUnitOffset(`${j}u`, lanes)}];
        ${T.map((t) => `a${t}_${r} = accumulate(a${t}_${r}, w, x${t}_${j});`).join('\n        ')}
      }`,
      ).join('\n      ')}
    }`,
      ).join('\n    ');
  const body = /* wgsl */ `${storeFn(v)}
${ACCUMULATE_FN}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = gid.x * ${s.rows}u;
  // Every lane stays active for the broadcasts: rows past the end re-read the last one, unstored.
  let last = params.n_count - 1u;
  let stride = params.row_stride / ${per}u;
  ${R.map((r) => `let wr${r} = ${laneRowBase(`min(n0 + ${r}u, last)`, 'stride', lanes)};`).join('\n  ')}
  let k4 = params.k / 4u;
  ${T.map((t) => `let xr${t} = ${xRow(s, t)};`).join('\n  ')}
  ${T.flatMap((t) => R.map((r) => `var a${t}_${r} = 0.0;`)).join('\n  ')}
  for (var c = 0u; c < k4; c += ${s.subgroup}u) {
    ${T.map((t) => `let xl${t} = x[xr${t} + c + lane];`).join('\n    ')}
    ${R.map((r) => `let wb${r} = wr${r} + ${laneUnitOffset(`c * 4u / ${per}u`, lanes)};`).join('\n    ')}
    ${inner}
  }
  ${streamStores(v, R, T)}
}
`;
  return { declaration, body };
}

/** Shape of the tile kernel: each invocation owns 4 weight rows and takes the dispatch's tokens `tokens` at a time. */
export interface TileShape {
  tokens: number;
  workgroup: number;
  subgroup: number;
  /**
   * vec4s of x when x is bound as a uniform buffer of the pass's tokens (from token t0 on, so the
   * kernel indexes it from 0), as in StreamShape.xUniform.
   */
  xUniform?: number | undefined;
}

/** Row of x (in vec4s) where token `tb + t` of the pass starts: from 0 when x is bound per pass. */
const tileXRow = (s: TileShape, t: number) =>
  s.xUniform ? `min(tb + ${t}u, params.tokens - 1u) * k4` : `(params.t0 + min(tb + ${t}u, params.tokens - 1u)) * k4`;

/**
 * The tile kernels' row offsets of an invocation's 4 rows, `units` weight units per row: where
 * each row's unit 0 is, row-major or in the lanes layout of `lanes` rows.
 */
export const tileRows = (name: string, units: string, lanes?: number) =>
  range(4)
    .map((r) => `let ${name}${r} = ${laneRowBase(`min(n0 + ${r}u, last)`, units, lanes)};`)
    .join('\n  ');

/**
 * Matrix product for several tokens on a CPU adapter (prefill): each invocation owns 4 weight
 * rows and takes the dispatch's tokens `tokens` at a time, its rows read again from the
 * CPU's caches for every block of tokens (one dispatch per weight part and pass of tokens). Per
 * step of 4 input features it loads a 4-feature slice of each row (a 16-byte load per row for
 * f32, 8 bytes for f16) and accumulates each row's 4 products into that (row, token)'s sum as the
 * stream kernel does (`accumulate`): 4 multiply-adds per row and token per weight load. x arrives
 * as in the stream kernel, one lane's vec4 at a time through `subgroupShuffle`, in a loop that is
 * not unrolled (the body stays small for the driver's code generator); from a uniform binding
 * where the pass's tokens fit one (`xUniform`).
 */
export function tileMatvecKernel(v: LinearVariant, s: TileShape) {
  if (v.weights.blocks) return tileBlockMatvecKernel(v, s);
  const f16 = v.weights.dtype === 'f16';
  const R = range(4);
  const T = range(s.tokens);
  const declaration = linearDeclaration(v, 'vec4<f32>', { type: f16 ? 'vec2<u32>' : 'vec4<f32>' }, ['subgroups'], {
    xUniform: s.xUniform,
  });
  const lanes = v.weights.lanes;
  // f16 loads half a 16-byte unit (4 halves as a vec2<u32>): in the lanes layout the row offsets
  // count 16-byte units, and half h of unit u sits at 2 * (its unit's place) + h.
  const f16Index = (r: number) => (lanes ? `(wr${r} + ((c + j) >> 1u) * ${lanes}u) * 2u + ((c + j) & 1u)` : `wr${r} + c + j`);
  const load = (r: number) =>
    f16
      ? `let p${r} = w[${f16Index(r)}]; let w${r} = vec4<f32>(unpack2x16float(p${r}.x), unpack2x16float(p${r}.y));`
      : `let w${r} = w[wr${r} + ${laneUnitOffset('c + j', lanes)}];`;
  const body = /* wgsl */ `${storeFn(v)}
${ACCUMULATE_FN}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = gid.x * 4u;
  let last = params.n_count - 1u;
  ${tileRows('wr', `params.row_stride / ${lanes && f16 ? 8 : 4}u`, lanes)}
  let k4 = params.k / 4u;
  for (var tb = 0u; tb < params.tokens; tb += ${s.tokens}u) {
  ${T.map((t) => `let xr${t} = ${tileXRow(s, t)};`).join('\n  ')}
  ${T.flatMap((t) => R.map((r) => `var a${t}_${r} = 0.0;`)).join('\n  ')}
  for (var c = 0u; c < k4; c += ${s.subgroup}u) {
    ${T.map((t) => `let xl${t} = x[xr${t} + c + lane];`).join('\n    ')}
    for (var j = 0u; j < ${s.subgroup}u; j++) {
      ${R.map(load).join('\n      ')}
      ${T.map((t) => `{
        let xv = subgroupShuffle(xl${t}, j);
        ${R.map((r) => `a${t}_${r} = accumulate(a${t}_${r}, w${r}, xv);`).join('\n        ')}
      }`).join('\n      ')}
    }
  }
  ${tileStores(R, T)}
  }
}
`;
  return { declaration, body };
}

/**
 * Stores of the tile kernels: 4 rows of token block tb's token t, those tokens that exist; `sum`
 * gives the value of (token t, row r) from its accumulator (the float kernels store it as is).
 */
export function tileStores(R: number[], T: number[], sum = (t: number, r: number) => `a${t}_${r}`): string {
  return T.map((t) => {
    const store = `store4(params.t0 + tb + ${t}u, n0, vec4<f32>(${R.map((r) => sum(t, r)).join(', ')}));`;
    return t > 0 ? `if (tb + ${t}u < params.tokens) { ${store} }` : store;
  }).join('\n  ');
}

/** Stores of the stream kernels: token t, row r of each invocation (pairs with 'glu'). */
function streamStores(v: LinearVariant, R: number[], T: number[]): string {
  return T.flatMap((t) =>
    R.filter((r) => v.epilogue !== 'glu' || r % 2 === 0).map((r) => {
      const cond = [`n0 + ${r}u < params.n_count`, ...(t > 0 ? [`${t}u < params.tokens`] : [])].join(' && ');
      const store =
        v.epilogue === 'glu'
          ? `store_pair(params.t0 + ${t}u, n0 + ${r}u, a${t}_${r}, a${t}_${r + 1})`
          : `store(params.t0 + ${t}u, n0 + ${r}u, a${t}_${r})`;
      return `if (${cond}) { ${store}; }`;
    }),
  ).join('\n  ');
}

/** Elements of a block format's group: 8 vec4 units. */
const GROUP = 32;

/**
 * The stream kernel over a block-quantized weight, read in place: per step of 4 * subgroup input
 * features (one or more 32-element groups) each row loads its group's quant words and scales
 * (format.blocks.group) and decodes one vec4 at a time right before the x vec4 it multiplies,
 * summed in the same `accumulate` order as the float formats. Needs 4 * subgroup to be a multiple
 * of 32.
 */
function streamBlockMatvecKernel(v: LinearVariant, s: StreamShape) {
  const blocks = v.weights.blocks!;
  const R = range(s.rows);
  const T = range(s.tokens);
  const H = range((4 * s.subgroup) / GROUP);
  const sb = s.superBlocks ? blocks.superBlock : undefined;
  if (s.superBlocks && !sb) throw new Error(`${v.weights.tag} has no super-block reads`);
  const lanes = v.weights.lanes;
  const declaration = linearDeclaration(v, 'vec4<f32>', { type: 'vec4<u32>' }, ['subgroups'], {
    xUniform: xUniformVec4s(s),
    vectorScales: sb?.vectorScales,
  });
  // By super-block, group h of iteration i is group i * H + h of the 8 whose scales are loaded.
  const group = (r: number, h: number) =>
    sb
      ? sb.group('w', `wg${r} + c / 8u + ${h}u`, `q${r}_`, `i * ${H.length}u + ${h}u`)
      : blocks.group('w', `wg${r} + ${laneUnitOffset(`c / 8u + ${h}u`, lanes)}`, `q${r}_`);
  const inner = H.map(
    (h) => `{
      ${R.map((r) => group(r, h)).join('\n      ')}
      ${range(8)
        .map(
          (j) => `{
        ${T.map((t) => `let x${t} = subgroupBroadcast(xl${t}, ${h * 8 + j}u);`).join(' ')}
        ${R.map((r) => `{ let w = ${blocks.unit(`q${r}_`, `${j}u`)}; ${T.map((t) => `a${t}_${r} = accumulate(a${t}_${r}, w, x${t});`).join(' ')} }`).join('\n        ')}
      }`,
        )
        .join('\n      ')}
    }`,
  ).join('\n    ');
  const body = /* wgsl */ `${storeFn(v)}
${ACCUMULATE_FN}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = gid.x * ${s.rows}u;
  // Every lane stays active for the broadcasts: rows past the end re-read the last one, unstored.
  let last = params.n_count - 1u;
  let groups = params.k / ${GROUP}u;
  ${R.map((r) => `let wg${r} = ${laneRowBase(`min(n0 + ${r}u, last)`, 'groups', lanes)};`).join('\n  ')}
  let k4 = params.k / 4u;
  ${T.map((t) => `let xr${t} = ${xRow(s, t)};`).join('\n  ')}
  ${T.flatMap((t) => R.map((r) => `var a${t}_${r} = 0.0;`)).join('\n  ')}
  ${
    sb
      ? `for (var cs = 0u; cs < k4; cs += ${(8 / H.length) * s.subgroup}u) {
    ${R.map((r) => sb.load('w', `(wg${r} + cs / 8u) / 8u`, `q${r}_`)).join('\n    ')}
    for (var i = 0u; i < ${8 / H.length}u; i++) {
    let c = cs + i * ${s.subgroup}u;`
      : `for (var c = 0u; c < k4; c += ${s.subgroup}u) {`
  }
    ${T.map((t) => `let xl${t} = x[xr${t} + c + lane];`).join('\n    ')}
    ${inner}
  }${sb ? '\n  }' : ''}
  ${streamStores(v, R, T)}
}
`;
  return { declaration, body };
}

/**
 * The tile kernel over a block-quantized weight: 4 rows x tokens per invocation as for floats;
 * per group each row loads its quant words and scales once, then the loop over the group's 8
 * vec4 units decodes 4 weights per row and accumulates them as the stream kernel does.
 */
function tileBlockMatvecKernel(v: LinearVariant, s: TileShape) {
  const blocks = v.weights.blocks!;
  const R = range(4);
  const T = range(s.tokens);
  const declaration = linearDeclaration(v, 'vec4<f32>', { type: 'vec4<u32>' }, ['subgroups'], { xUniform: s.xUniform });
  const body = /* wgsl */ `${storeFn(v)}
${ACCUMULATE_FN}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = gid.x * 4u;
  let last = params.n_count - 1u;
  ${tileRows('wg', `(params.k / ${GROUP}u)`, v.weights.lanes)}
  let k4 = params.k / 4u;
  for (var tb = 0u; tb < params.tokens; tb += ${s.tokens}u) {
  ${T.map((t) => `let xr${t} = ${tileXRow(s, t)};`).join('\n  ')}
  ${T.flatMap((t) => R.map((r) => `var a${t}_${r} = 0.0;`)).join('\n  ')}
  for (var c = 0u; c < k4; c += ${s.subgroup}u) {
    ${T.map((t) => `let xl${t} = x[xr${t} + c + lane];`).join('\n    ')}
    for (var h = 0u; h < ${(4 * s.subgroup) / GROUP}u; h++) {
      ${R.map((r) => blocks.group('w', `wg${r} + ${laneUnitOffset('c / 8u + h', v.weights.lanes)}`, `q${r}_`)).join('\n      ')}
      for (var j = 0u; j < 8u; j++) {
        ${R.map((r) => `let w${r} = ${blocks.unit(`q${r}_`, 'j')};`).join('\n        ')}
        ${T.map((t) => `{
          let xv = subgroupShuffle(xl${t}, h * 8u + j);
          ${R.map((r) => `a${t}_${r} = accumulate(a${t}_${r}, w${r}, xv);`).join('\n          ')}
        }`).join('\n        ')}
      }
    }
  }
  ${tileStores(R, T)}
  }
}
`;
  return { declaration, body };
}

/** Shape of the reducing matvec: a workgroup of `workgroup` invocations per `rows` weight rows. */
export interface ReduceShape {
  rows: number;
  tokens: number;
  workgroup: number;
  /** vec4 loads of x and the weights (K % 4 == 0), else scalar loads. */
  vec4: boolean;
}

/**
 * Matrix-vector product for a GPU: a workgroup per `rows` weight rows, its invocations striding
 * along K so that neighbours read neighbouring addresses (coalesced), then a tree reduction of
 * the partial sums in workgroup memory. Works for every K (scalar loads when K % 4 != 0) and is
 * the portable fallback on any adapter.
 */
export function reduceMatvecKernel(v: LinearVariant, s: ReduceShape) {
  const R = range(s.rows);
  const T = range(s.tokens);
  const unit = s.vec4 ? 4 : 1;
  const declaration = linearDeclaration(v, s.vec4 ? 'vec4<f32>' : 'f32', { unit: s.vec4 ? 'vec4' : 'scalar' });
  const sums = s.rows * s.tokens;
  const body = /* wgsl */ `${storeFn(v)}

const WG = ${s.workgroup}u;
var<workgroup> partial: array<f32, ${sums * s.workgroup}>;

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let n0 = wid.x * ${s.rows}u;
  let last = params.n_count - 1u;
  let units = params.k / ${unit}u;
  let stride = params.row_stride / ${unit}u;
  ${R.map((r) => `let wr${r} = min(n0 + ${r}u, last) * stride;`).join('\n  ')}
  ${T.map((t) => `let xr${t} = (params.t0 + min(${t}u, params.tokens - 1u)) * units;`).join('\n  ')}
  ${T.flatMap((t) => R.map((r) => `var a${t}_${r} = 0.0;`)).join('\n  ')}
  for (var i = li; i < units; i += WG) {
    ${T.map((t) => `let x${t} = x[xr${t} + i];`).join('\n    ')}
    ${R.map((r) => `{
      let w = load_w(wr${r} + i);
      ${T.map((t) => `a${t}_${r} += ${s.vec4 ? `dot(w, x${t})` : `w * x${t}`};`).join('\n      ')}
    }`).join('\n    ')}
  }
  ${T.flatMap((t) => R.map((r) => `partial[${t * s.rows + r}u * WG + li] = a${t}_${r};`)).join('\n  ')}
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    workgroupBarrier();
    if (li < half) {
      for (var j = 0u; j < ${sums}u; j++) { partial[j * WG + li] += partial[j * WG + li + half]; }
    }
  }
  ${
    v.epilogue === 'glu'
      ? `// Rows come in (gate, up) pairs: invocation p stores pair p of every token.
  if (li < ${sums / 2}u) {
    let t = li / ${s.rows / 2}u;
    let n = n0 + 2u * (li % ${s.rows / 2}u);
    let j = t * ${s.rows}u + n - n0;
    if (t < params.tokens && n < params.n_count) { store_pair(params.t0 + t, n, partial[j * WG], partial[(j + 1u) * WG]); }
  }`
      : `if (li < ${sums}u) {
    let t = li / ${s.rows}u;
    let n = n0 + li % ${s.rows}u;
    if (t < params.tokens && n < params.n_count) { store(params.t0 + t, n, partial[li * WG]); }
  }`
  }
}
`;
  return { declaration, body };
}

/** Tile of the matmul kernel: 64 tokens x 64 output features per workgroup, K in steps of 16. */
export const MATMUL_TILE_ROWS = 64;
export const MATMUL_TILE_COLS = 64;

/**
 * Tiled matrix product for many tokens on a GPU (prefill): a 16x16 workgroup computes a 64x64
 * tile of out, each invocation a 4x4 block, staging 16-deep slices of x and W in workgroup memory.
 */
export function matmulKernel(v: LinearVariant) {
  const declaration = linearDeclaration(v, 'f32', { unit: 'scalar' });
  const body = /* wgsl */ `${storeFn(v)}

const BK = 16u;
// Tiles transposed: xs[kk][rg] holds tokens 4rg..4rg+3 at depth kk, ws[kk][cg] output features
// 4cg..4cg+3, so an invocation reads its 4 tokens and 4 features as vec4s.
var<workgroup> xs: array<array<vec4<f32>, 16>, 16>;
var<workgroup> ws: array<array<vec4<f32>, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let k = params.k;
  let row_base = wid.y * 64u;
  let col_base = wid.x * 64u;
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < k; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      // 1024 elements of each tile, 4 per invocation; consecutive invocations read consecutive k.
      let e = t + i * 256u;
      let r = e / BK;
      let kk = e % BK;
      let row = row_base + r;
      var xv = 0.0;
      if (row < params.tokens && k0 + kk < k) { xv = x[(params.t0 + row) * k + k0 + kk]; }
      xs[kk][r / 4u][r % 4u] = xv;
      let n = col_base + r;
      var wv = 0.0;
      if (n < params.n_count && k0 + kk < k) { wv = load_w(n * params.row_stride + k0 + kk); }
      ws[kk][r / 4u][r % 4u] = wv;
    }
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
  let r0 = row_base + ty * 4u;
  let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    if (r0 + i >= params.tokens) { break; }
    store4(params.t0 + r0 + i, col_base + tx * 4u, accs[i]);
  }
}
`;
  return { declaration, body };
}
