import { declareKernel } from './kernel-declaration.js';
import { GROUP_I8_WGSL, GROUP_SQUARES_WGSL, symmetricQuantizeWgsl } from './i8-quantize.wgsl.js';
import { epilogueBindings, LINEAR_PARAMS, storeFn, type LinearEpilogueVariant } from './linear.wgsl.js';
import { ROPE_WGSL } from './rope.wgsl.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/** Pairs of rows interleaved per block of the pairs layout (and the x lanes that share a group). */
export const PAIR_LANES = 8;

/**
 * Quantizes x [groups * 32] f32 to int8 per 32-value group (@llm/quant's quantizeGroupsI8, bit for
 * bit): one invocation per group writes its 32 integers (as i32, what the product multiplies) and
 * (scale, sum of the integers) for the group.
 */
export function quantizeGroupsKernel() {
  const declaration = declareKernel({
    name: 'quantizeGroupsI8',
    params: { groups: 'u32' },
    bindings: {
      x: { access: 'read', type: 'vec4<f32>' },
      xq: { access: 'read_write', type: 'vec4<i32>' },
      xg: { access: 'read_write', type: 'vec2<f32>' },
    },
  });
  const body = /* wgsl */ `${GROUP_I8_WGSL}

@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = gid.y * nwg.x * ${ELEMENTWISE_WORKGROUP}u + gid.x;
  if (g >= params.groups) { return; }
  var v: array<vec4<f32>, 8>;
  var amax = 0.0;
  for (var j = 0u; j < 8u; j++) {
    v[j] = x[g * 8u + j];
    let a = abs(v[j]);
    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
  }
  storeGroupI8(g, v, amax);
}
`;
  return { declaration, body };
}

/** Tokens and row pairs per invocation of the pairs product, and its workgroup size. */
export interface PairsShape {
  tokens: number;
  pairs: number;
  workgroup: number;
  /**
   * The pass's tokens when its int8 x and group scales are bound as uniforms (lavapipe loads a
   * uniform at a varying index with one gather for all lanes, storage lane by lane).
   */
  uniformTokens?: number | undefined;
  /** Input features, which the uniform arrays' lengths need. */
  k?: number | undefined;
}

/** The product's int8 x and group scales: storage, or uniform arrays of the pass's tokens. */
function pairsInputs(s: PairsShape) {
  if (s.uniformTokens === undefined || s.k === undefined) {
    return { xq: { access: 'read', type: 'vec4<i32>' }, xg: { access: 'read', type: 'vec4<f32>' } } as const;
  }
  return {
    xq: { access: 'uniform', type: `array<vec4<i32>, ${(s.uniformTokens * s.k) / 4}>` },
    xg: { access: 'uniform', type: `array<vec4<f32>, ${Math.ceil((s.uniformTokens * s.k) / 64)}>` },
  } as const;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The Q|K|V product's rotary embedding and KV-cache write in the pairs product's stores. */
export interface PairsRope {
  freqFactors: boolean;
  /** The pool's element type: f32, or f16 (a rotated pair is one u32 of two halves). */
  kvDtype: 'f32' | 'f16';
}

/** The pairs product's params: linear's, the deferred norm's epsilon and the rope epilogue's. */
export const PAIRS_PARAMS = {
  ...LINEAR_PARAMS,
  eps: 'f32', // normX: the RMSNorm's epsilon
  head_dim: 'u32',
  num_kv_heads: 'u32',
  log2_theta: 'f32',
  position_scale: 'f32',
  num_slots: 'u32', // numBlocks * blockSize of the pool
  block_size: 'u32',
} as const;

/**
 * The stores of token t (row tg of out), pair p (rows n, n + 1 of the part, features g, g + 1)
 * with the rope epilogue: Q rows (features below params.split) and K rows turned by the token's
 * position as \`rope\` turns them (adjacent pairs), Q to out, K|V to out2 and into the token's
 * pool slot as kvWrite places them.
 */
function ropeStore(v: LinearEpilogueVariant, rope: PairsRope, a: string, b: string): string {
  const bias = v.bias ? ' v0 += bias[g]; v1 += bias[g + 1u];' : '';
  const cacheWrite = (cache: string) =>
    rope.kvDtype === 'f16'
      ? `${cache}[(row + j) / 2u] = pack2x16float(vec2<f32>(v0, v1));`
      : `${cache}[row + j] = v0; ${cache}[row + j + 1u] = v1;`;
  return `{
        let g = params.n_start + n;
        var v0 = ${a}; var v1 = ${b};${bias}
        let kvLen = (params.out_stride - params.split) / 2u;
        let e = g - params.split;
        if (g < params.split + kvLen) {
          let i = (select(e, g, g < params.split) % params.head_dim) / 2u;
          let cs = rope_cs(positions[tg], i, params.head_dim, params.log2_theta, params.position_scale, ${rope.freqFactors ? 'freq_factors[i]' : '1.0'});
          let r = rope_rotate(vec2<f32>(v0, v1), cs);
          v0 = r.x; v1 = r.y;
        }
        if (g < params.split) {
          out[tg * params.split + g] = v0; out[tg * params.split + g + 1u] = v1;
        } else {
          out2[tg * (params.out_stride - params.split) + e] = v0; out2[tg * (params.out_stride - params.split) + e + 1u] = v1;
          let slot = slots[tg];
          if (slot < params.num_slots) {
            let kvE = select(e - kvLen, e, e < kvLen);
            let row = rope_kv_row(slot, kvE / params.head_dim);
            let j = kvE % params.head_dim;
            if (e < kvLen) { ${cacheWrite('k_cache')} } else { ${cacheWrite('v_cache')} }
          }
        }
      }`;
}

/**
 * `laneGroupI8(v)`: a 32-value group held 4 values a lane by 8 neighbouring lanes, quantized as
 * quantizeGroupsI8 does: this lane's integers, the group's scale and integer sum (the largest
 * magnitude and the sum from xor-shuffles among the 8 lanes, exact in any order).
 */
const LANE_GROUP_I8_WGSL = /* wgsl */ `${symmetricQuantizeWgsl(127)}

struct LaneGroupI8 { q: vec4<i32>, scale: f32, sum: i32 }

fn laneGroupI8(v: vec4<f32>) -> LaneGroupI8 {
  let av = abs(v);
  var amax = max(max(av.x, av.y), max(av.z, av.w));
  amax = max(amax, subgroupShuffleXor(amax, 1u));
  amax = max(amax, subgroupShuffleXor(amax, 2u));
  amax = max(amax, subgroupShuffleXor(amax, 4u));
  let sc = rowScale(amax);
  let q = quantize(v, sc);
  var qs = q.x + q.y + q.z + q.w;
  qs += subgroupShuffleXor(qs, 1u);
  qs += subgroupShuffleXor(qs, 2u);
  qs += subgroupShuffleXor(qs, 4u);
  return LaneGroupI8(q, sc, qs);
}`;

/** What a pairs product does beside its plain product and epilogue. */
export interface PairsOptions {
  /** The glu output also quantized per 32-value group (4 pairs per invocation, 8 lanes to a group). */
  int8Out?: boolean | undefined;
  /** The Q|K|V product's rotary embedding and KV-cache write. */
  rope?: PairsRope | undefined;
  /**
   * x is an RMSNorm's input times its weight with the scale deferred (`xn`: each group's sum of
   * squares of x): every output is multiplied by inverseSqrt(Σ xn / K + eps) of its token.
   */
  normX?: boolean | undefined;
  /**
   * The residual output also written as the next RMSNorm's int8 input, scale deferred (weight
   * `nw`; values `nq`, (scale, sum) `ng`, sums of squares `nn`): 2 or 4 pairs per invocation, 8
   * lanes to 32 or 64 rows, one or two groups.
   */
  normOut?: boolean | undefined;
  /**
   * Sum each group's integer products in f32 (several tokens): the weights' levels and x's
   * integers become f32 and are multiply-added, which is exact, so the group sums and every output
   * bit equal the integer path's (see pairsKernel).
   */
  floatSums?: boolean | undefined;
}

/**
 * out = x · Wᵀ over Q4_0 or Q8_0 weights in the pairs layout (int8-pairs.ts) with x quantized to int8 per
 * 32-value group (quantizeGroupsKernel), for CPU adapters (an invocation per SIMD lane, subgroups
 * of at least 8 lanes).
 *
 * A weight word holds 4 input features of two rows, row A's nibbles in the low half-word and row
 * B's in the high one, so `(word >> 4j) & 0x000f000f` is feature j's two levels in two 16-bit
 * fields and one integer multiply by x's int8 value accumulates both rows. 16 features of such
 * products (|level * x| <= 15 * 127, 16 of them <= 30480) fit a signed 16-bit field, so after
 * every 16 the sum is split into the two rows' exact integer sums. A Q8_0 value plus 128 is two
 * such 4-bit levels (`format.planes`), the high one's sum counting 16 times. Per group of 32 the
 * sums become f32: (Σ level·x - offset Σ x) · (d_w · d_x) (offset 8 for Q4_0, 128 for Q8_0),
 * fused into one accumulator per (row, token). The
 * integers are exact and the f32 steps the same in every shape, so a token's result does not
 * depend on the tokens or rows beside it.
 *
 * Each lane loads 4 of a group's 32 int8 x values and subgroupBroadcast hands them to the others,
 * as the stream kernel does with x. Per invocation `pairs` row pairs and `tokens` tokens at a
 * time: a weight word's fields are split once for all its tokens.
 *
 * With `floatSums` each word's levels of both rows become f32 (Q8_0's planes joined into 8-bit
 * levels first) and the group sums are f32 multiply-adds of them and x's integers. Every product
 * and partial sum is an integer below 2^24 (at most 255 · 127 · 32), so each is exact and the sums
 * equal the integer path's: the same output bits, whichever path a token went through.
 */
export function pairsKernel(
  v: LinearEpilogueVariant,
  s: PairsShape,
  format: { planes: 1 | 2; offset: number },
  o: PairsOptions = {},
) {
  const { int8Out = false, rope, normX = false, normOut = false, floatSums = false } = o;
  if ((int8Out && (v.epilogue !== 'glu' || s.pairs !== 4)) || (normOut && s.pairs !== 2 && s.pairs !== 4)) {
    throw new Error("the pairs product writes int8 output from the glu epilogue with 4 pairs per invocation, the next norm's input with 2 or 4");
  }
  if (normOut && (!v.residual || v.bias || v.epilogue !== 'store')) {
    throw new Error("the pairs product writes the next norm's input only from a residual product without bias");
  }
  if (rope && (v.epilogue !== 'split' || v.residual || int8Out)) {
    throw new Error('the rope epilogue is for the split Q|K|V product, without residual or int8 output');
  }
  // int8Out and normOut: 8 neighbouring lanes hold a block of 8 x pairs row pairs (see int8Stores).
  const blockLanes = int8Out || normOut;
  const cache = rope?.kvDtype === 'f16' ? 'u32' : 'f32';
  const Q = range(format.planes);
  const T = range(s.tokens);
  const P = range(s.pairs);
  const declaration = declareKernel({
    name: 'linear',
    params: PAIRS_PARAMS,
    bindings: {
      ...pairsInputs(s),
      w: { access: 'read', type: 'vec4<u32>' },
      w_scales: { access: 'read', type: 'vec4<u32>' },
      ...epilogueBindings(v),
      hq: { access: 'read_write', type: 'i32', present: int8Out },
      hg: { access: 'read_write', type: 'vec2<f32>', present: int8Out },
      xn: { access: 'read', type: 'f32', present: normX },
      nw: { access: 'read', type: 'f32', present: normOut },
      nq: { access: 'read_write', type: 'i32', present: normOut },
      ng: { access: 'read_write', type: 'vec2<f32>', present: normOut },
      nn: { access: 'read_write', type: 'f32', present: normOut },
      positions: { access: 'read', type: 'u32', present: rope !== undefined },
      freq_factors: { access: 'read', type: 'f32', present: rope?.freqFactors === true },
      slots: { access: 'read', type: 'u32', present: rope !== undefined },
      k_cache: { access: 'read_write', type: cache, present: rope !== undefined },
      v_cache: { access: 'read_write', type: cache, present: rope !== undefined },
    },
    enable: ['subgroups'],
  });
  // Feature block h (0, 1) of group g: per plane q its unit's 4 words, per word the 4 features'
  // fields times the broadcast x values into acc (one per token, pair and plane); then each plane's
  // 16-bit fields split into the rows' integer sums, the high plane counting 16 times.
  const half = (h: number) => `{
      ${P.flatMap((p) => Q.map((q) => `let wv${p}_${q} = w[wb${p} + ${h * format.planes + q}u * ${PAIR_LANES}u + g * ${2 * format.planes * PAIR_LANES}u];`)).join(' ')}
      ${T.flatMap((t) => P.flatMap((p) => Q.map((q) => `var acc${t}_${p}_${q} = 0i;`))).join(' ')}
      ${range(4)
        .map(
          (j) => `{
        ${P.flatMap((p) =>
          Q.map(
            (
              q,
            ) => `let f0_${p}_${q} = bitcast<i32>(wv${p}_${q}[${j}] & 0xf000fu); let f1_${p}_${q} = bitcast<i32>((wv${p}_${q}[${j}] >> 4u) & 0xf000fu);
        let f2_${p}_${q} = bitcast<i32>((wv${p}_${q}[${j}] >> 8u) & 0xf000fu); let f3_${p}_${q} = bitcast<i32>((wv${p}_${q}[${j}] >> 12u) & 0xf000fu);`,
          ),
        ).join('\n        ')}
        ${T.map(
          (t) =>
            `{ let xv = subgroupBroadcast(xl${t}, ${h * 4 + j}u); ${P.flatMap((p) => Q.map((q) => `acc${t}_${p}_${q} += f0_${p}_${q} * xv.x + f1_${p}_${q} * xv.y + f2_${p}_${q} * xv.z + f3_${p}_${q} * xv.w;`)).join(' ')} }`,
        ).join('\n        ')}
      }`,
        )
        .join('\n      ')}
      ${T.flatMap((t) =>
        P.flatMap((p) =>
          Q.map((q) => {
            const scale = q === 1 ? ' * 16' : '';
            return `{ let lo = (acc${t}_${p}_${q} << 16u) >> 16u; ia${t}_${p} += lo${scale}; ib${t}_${p} += ((acc${t}_${p}_${q} - lo) >> 16u)${scale}; }`;
          }),
        ),
      ).join('\n      ')}
    }`;
  // floatSums: per word the 4 features' levels of both rows at once (Q8_0's two planes joined into
  // 8-bit levels), as f32 vec4s of row A and row B, multiply-added into f32 sums per token.
  const levels = (p: number) => {
    const plane = (q: number) => `((vec4<u32>(wv${p}_${q}[j]) >> FEATURE_SHIFTS) & vec4<u32>(0xf000fu))`;
    return format.planes === 1 ? plane(0) : `(${plane(0)} | (${plane(1)} << vec4<u32>(4u)))`;
  };
  // A loop over the group's halves and words, not unrolled: lavapipe's code generator keeps a
  // small body's sums in registers (the float tile kernel's reason too).
  const floatGroup = `for (var h = 0u; h < 2u; h++) {
      ${P.flatMap((p) => Q.map((q) => `let wv${p}_${q} = w[wb${p} + (h * ${format.planes}u + ${q}u) * ${PAIR_LANES}u + g * ${2 * format.planes * PAIR_LANES}u];`)).join(' ')}
      for (var j = 0u; j < 4u; j++) {
        ${P.map((p) => `let f${p} = ${levels(p)}; let wa${p} = vec4<f32>(f${p} & vec4<u32>(0xffffu)); let wb${p} = vec4<f32>(f${p} >> vec4<u32>(16u));`).join('\n        ')}
        ${T.map(
          (t) =>
            `{ let xv = subgroupShuffle(xl${t}, h * 4u + j); ${P.map((p) => `ia${t}_${p} = dot4(ia${t}_${p}, wa${p}, xv); ib${t}_${p} = dot4(ib${t}_${p}, wb${p}, xv);`).join(' ')} }`,
        ).join('\n        ')}
      }
    }`;
  // int8Out: 8 neighbouring lanes hold a block of 32 pairs, lane L pairs L, L + 8, L + 16 and
  // L + 24 (each weight load of the 8 lanes contiguous), so their outputs are one 32-value group
  // (every part starts at a multiple of 32 outputs): the group's largest magnitude and integer sum
  // by xor-shuffles within those 8 lanes, then @llm/quant's quantizeGroupsI8 steps, bit for bit.
  const int8Stores = T.map(
    (t) => `{
      ${P.map((p) => `let h${p} = a${t}_${p} / (1.0 + exp(-a${t}_${p})) * b${t}_${p};`).join(' ')}
      let hv = vec4<f32>(${P.map((p) => `h${p}`).join(', ')});
      let valid = tb + ${t}u < params.tokens && gid.x * 4u < pairs;
      let o = (params.t0 + tk${t}) * params.out_stride + params.n_start / 2u + (gid.x / 8u) * 32u + (gid.x & 7u);
      if (valid) { ${P.map((p) => `out[o + ${p * 8}u] = h${p};`).join(' ')} }
      let gq = laneGroupI8(hv);
      if (valid) {
        ${P.map((p) => `hq[o + ${p * 8}u] = gq.q[${p}];`).join(' ')}
        if ((gid.x & 7u) == 0u) { hg[o / 32u] = vec2<f32>(gq.scale, f32(gq.sum)); }
      }
    }`,
  ).join('\n    ');
  // normOut: each token's pairs plus residual are x (stored as is); x times the norm weight is
  // quantized per group as quantizeGroupsI8 does (pairs 0-1 of the block's lanes are one group,
  // pairs 2-3 the next) and each group's sum of squares of x comes in groupSquares' order.
  const normStores = T.map(
    (t) => `{
      let tg = params.t0 + tk${t};
      let valid = tb + ${t}u < params.tokens;
      ${P.map((p) => `let o${p} = tg * params.out_stride + params.n_start + 2u * p${p};
      let xa${p} = a${t}_${p} + residual[o${p}]; let xb${p} = b${t}_${p} + residual[o${p} + 1u];
      if (valid) { out[o${p}] = xa${p}; out[o${p} + 1u] = xb${p}; }
      let ya${p} = xa${p} * nw[params.n_start + 2u * p${p}]; let yb${p} = xb${p} * nw[params.n_start + 2u * p${p} + 1u];`).join('\n      ')}
      ${range(s.pairs / 2)
        .map(
          (h) => `{
        let gq = laneGroupI8(vec4<f32>(ya${2 * h}, yb${2 * h}, ya${2 * h + 1}, yb${2 * h + 1}));
        var sq = laneSquares(xa${2 * h}, xb${2 * h}, xa${2 * h + 1}, xb${2 * h + 1});
        sq += subgroupShuffleXor(sq, 1u);
        sq += subgroupShuffleXor(sq, 2u);
        sq += subgroupShuffleXor(sq, 4u);
        if (valid) {
          nq[o${2 * h}] = gq.q.x; nq[o${2 * h} + 1u] = gq.q.y; nq[o${2 * h + 1}] = gq.q.z; nq[o${2 * h + 1} + 1u] = gq.q.w;
          if ((gid.x & 7u) == 0u) { ng[o${2 * h} / 32u] = vec2<f32>(gq.scale, f32(gq.sum)); nn[o${2 * h} / 32u] = sq; }
        }
      }`,
        )
        .join('\n      ')}
    }`,
  ).join('\n    ');
  const stores = int8Out ? int8Stores : normOut ? normStores : T.flatMap((t) =>
    P.map((p) => {
      const n = `2u * p${p}`;
      const write = rope
        ? `let tg = params.t0 + tk${t}; let n = ${n}; ${ropeStore(v, rope, `a${t}_${p}`, `b${t}_${p}`)}`
        : v.epilogue === 'glu'
          ? `if (${n} < params.n_count) { store_pair(params.t0 + tk${t}, ${n}, a${t}_${p}, b${t}_${p}); }`
          : `if (${n} < params.n_count) { store(params.t0 + tk${t}, ${n}, a${t}_${p}); }
      if (${n} + 1u < params.n_count) { store(params.t0 + tk${t}, ${n} + 1u, b${t}_${p}); }`;
      return `if (tb + ${t}u < params.tokens && gid.x * ${s.pairs}u + ${p}u < pairs) {
      ${write}
    }`;
    }),
  ).join('\n    ');
  const body = /* wgsl */ `${rope ? ROPE_WGSL : storeFn(v)}${blockLanes ? LANE_GROUP_I8_WGSL : ''}${normOut ? GROUP_SQUARES_WGSL : ''}

${
  floatSums
    ? `
const FEATURE_SHIFTS = vec4<u32>(0u, 4u, 8u, 12u);

// Integers in f32: every product and partial sum is exact (below 2^24), in any order.
fn dot4(acc: f32, w: vec4<f32>, x: vec4<f32>) -> f32 {
  return fma(w.w, x.w, fma(w.z, x.z, fma(w.y, x.y, fma(w.x, x.x, acc))));
}
`
    : ''
}
// (scale, sum) of x's group i: two groups to a vec4, as a uniform array needs 16-byte elements.
fn groupScale(i: u32) -> vec2<f32> {
  let v = xg[i / 2u];
  return select(v.xy, v.zw, (i & 1u) == 1u);
}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let groups = params.k / 32u;
  let pairs = (params.n_count + 1u) / 2u;
  // Every lane stays active for the broadcasts: pairs past the end re-read the last one, unstored.
  ${P.map(
    (p) => `let p${p} = min(${blockLanes ? `(gid.x / 8u) * ${8 * s.pairs}u + ${p * 8}u + (gid.x & 7u)` : `gid.x * ${s.pairs}u + ${p}u`}, pairs - 1u);
  let wb${p} = (p${p} / ${PAIR_LANES}u) * groups * ${2 * format.planes * PAIR_LANES}u + p${p} % ${PAIR_LANES}u;
  let sb${p} = (p${p} / ${PAIR_LANES}u) * ((groups + 3u) / 4u) * ${PAIR_LANES}u + p${p} % ${PAIR_LANES}u;
  var sv${p} = vec4<u32>(0u);`,
  ).join('\n  ')}
  for (var tb = 0u; tb < params.tokens; tb += ${s.tokens}u) {
    // Tokens of the pass (x's rows from 0); out's rows from params.t0.
    ${T.map((t) => `let tk${t} = min(tb + ${t}u, params.tokens - 1u);`).join('\n    ')}
    ${T.flatMap((t) => P.map((p) => `var a${t}_${p} = 0.0; var b${t}_${p} = 0.0;`)).join('\n    ')}
    for (var g = 0u; g < groups; g++) {
      ${T.map((t) => {
        const load = `xq[(tk${t} * groups + g) * 8u + (lane & 7u)]`;
        return `let xl${t} = ${floatSums ? `vec4<f32>(${load})` : load};`;
      }).join('\n      ')}
      ${T.flatMap((t) => P.map((p) => (floatSums ? `var ia${t}_${p} = 0.0; var ib${t}_${p} = 0.0;` : `var ia${t}_${p} = 0i; var ib${t}_${p} = 0i;`))).join(' ')}
      ${floatSums ? floatGroup : `${half(0)}
      ${half(1)}`}
      // Four groups' scales per 16-byte load.
      if ((g & 3u) == 0u) { ${P.map((p) => `sv${p} = w_scales[sb${p} + (g / 4u) * ${PAIR_LANES}u];`).join(' ')} }
      ${P.map((p) => `let d${p} = unpack2x16float(sv${p}[g & 3u]);`).join(' ')}
      ${T.map(
        (t) => `{
        let xg${t} = groupScale(tk${t} * groups + g);
        let sx = ${format.offset}.0 * xg${t}.y;
        ${P.map(
          (p) => `a${t}_${p} = fma(${floatSums ? `ia${t}_${p}` : `f32(ia${t}_${p})`} - sx, d${p}.x * xg${t}.x, a${t}_${p});
        b${t}_${p} = fma(${floatSums ? `ib${t}_${p}` : `f32(ib${t}_${p})`} - sx, d${p}.y * xg${t}.x, b${t}_${p});`,
        ).join('\n        ')}
      }`,
      ).join('\n      ')}
    }${
      normX
        ? `
    // The deferred RMSNorm scale of each token from its group sums of squares: lane l < 8 adds
    // groups l, l + 8, ... in order, then subgroupAdd (one order for every token, whatever the batch).
    ${T.map(
      (t) => `{
      var ss = 0.0;
      for (var g = select(groups, lane, lane < ${PAIR_LANES}u); g < groups; g += ${PAIR_LANES}u) { ss += xn[(params.t0 + tk${t}) * groups + g]; }
      let inv = inverseSqrt(subgroupAdd(ss) / f32(params.k) + params.eps);
      ${P.map((p) => `a${t}_${p} *= inv; b${t}_${p} *= inv;`).join(' ')}
    }`,
    ).join('\n    ')}`
        : ''
    }
    ${stores}
  }
}
`;
  return { declaration, body };
}
