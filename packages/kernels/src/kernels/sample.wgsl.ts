import { ROW_WORKGROUP, WGSL_ORDERED_KEY } from './argmax.wgsl.js';
import { declareKernel } from './kernel-declaration.js';

/** u32 words per row in the sampling params buffer (see packSamplingParams). */
export const SAMPLING_PARAMS_WORDS = 8;

// Kept tokens one workgroup holds (index and e: 8 KiB of workgroup memory).
const CANDIDATES = 1024;

/**
 * Sampling, one workgroup per row. With e_i = exp((l_i - max l) / temperature) (so the top token
 * has e = 1 and p_i = e_i / sum e):
 * - greedy when temperature <= 0 or topK == 1: exactly the token `argmax` picks (largest logit,
 *   lowest index on ties, a NaN above every number), so a greedy row gets the same token whether
 *   its step runs argmax or samples other rows beside it;
 * - top-k keeps logits >= the k-th largest logit, found exactly by a radix select over the
 *   logits' ordered u32 keys (4 passes of a 256-bin histogram; ties at the threshold are all
 *   kept);
 * - min-p keeps e_i >= minP (p_i >= minP * p_max);
 * - top-p, over what top-k and min-p kept, keeps e_i >= the largest threshold whose kept mass is
 *   still >= topP * (kept mass), found by bisection over the bits of e (non-negative floats
 *   order like their bits): the smallest most-probable set reaching topP, ties included;
 * - the token is the first index (ascending) whose running kept mass exceeds u * (kept mass).
 * Sampled rows never keep NaN logits; such a row of only NaN gives token 0.
 *
 * When top-k and min-p keep at most CANDIDATES tokens (top-k 40 or min-p 0.05 usually keep a few
 * dozen), or top-p provably keeps fewer from among them (every e of binary exponent b is at
 * least 2^b, which bounds the mass from the top down), those are gathered in index order into
 * workgroup memory and one invocation finishes the row on them. Otherwise top-p bisects over the
 * whole vocabulary, a pass per bit. On lavapipe the bisection passes (each a sweep with a tree
 * reduction through barriers) took 15.6 ms of a 32000-token row with top-k 40, top-p 0.95 and
 * min-p 0.05, and 7.9 ms with top-p 0.9 alone.
 */
export function sampleKernel() {
  const declaration = declareKernel({
    name: 'sample',
    params: { rows: 'u32', vocab: 'u32' },
    bindings: {
      logits: { access: 'read', type: 'f32' },
      row_params: { access: 'read', type: 'RowParams' },
      out: { access: 'read_write', type: 'u32' },
    },
  });
  const body = /* wgsl */ `
struct RowParams {
  temperature: f32,
  top_p: f32,
  top_k: u32,   // 0 = off
  min_p: f32,   // 0 = off
  u: f32,       // uniform random in [0, 1)
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
${WGSL_ORDERED_KEY}

const WG = ${ROW_WORKGROUP}u;
const NONE = 0xffffffffu;
var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_nan: array<u32, WG>;
var<workgroup> wg_params: RowParams;
var<workgroup> wg_goal: f32;
var<workgroup> wg_fallback: u32;
var<workgroup> claimed: u32;

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn key_to_f32(key: u32) -> f32 {
  if ((key >> 31u) == 1u) { return bitcast<f32>(key & 0x7fffffffu); }
  return bitcast<f32>(~key);
}

// Workgroup sum with a uniform result. The leading barrier keeps a new sum from overwriting the
// previous result before every invocation has read it. Counts go through it too (exact below 2^24).
fn sum_f32(lid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red_f[lid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red_f[lid] += red_f[lid + s]; }
  }
  return workgroupUniformLoad(&red_f[0]);
}

// Kept tokens (index order) and their e, when at most CANDIDATES of them.
const CANDIDATES = ${CANDIDATES}u;
var<workgroup> cand_i: array<u32, CANDIDATES>;
var<workgroup> cand_e: array<f32, CANDIDATES>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> wg_radix: vec2<u32>;
// (kept tokens, bits of their mass, bound of e or NONE), then the held tokens' count in x.
var<workgroup> wg_kept: vec3<u32>;

// What a row's filters need: where its logits start, the top-k threshold key, the max logit,
// the temperature and min-p.
struct Keep {
  base: u32,
  k_thresh: u32,
  max_logit: f32,
  temperature: f32,
  min_p: f32,
}

// e of token i when top-k and min-p keep it and the bits of e are at least \`floor\`, else -1.
fn kept_e(k: Keep, i: u32, floor: u32) -> f32 {
  let l = logits[k.base + i];
  let e = exp((l - k.max_logit) / k.temperature);
  if (!is_nan(l) && ordered_key(l) >= k.k_thresh && e >= k.min_p && bitcast<u32>(e) >= floor) { return e; }
  return -1.0;
}

// Top-p and the inverse CDF on the n kept candidates, as the whole-vocabulary path does them.
fn sample_candidates(n: u32, rp: RowParams, kept_mass: f32) -> u32 {
  var p_bits = 0u;
  if (rp.top_p < 1.0) {
    let goal = rp.top_p * kept_mass;
    var lo = 0u;
    var hi = 0x3f800001u;
    while (hi - lo > 1u) {
      let mid = lo + (hi - lo) / 2u;
      var kept = 0.0;
      for (var c = 0u; c < n; c++) {
        if (bitcast<u32>(cand_e[c]) >= mid) { kept += cand_e[c]; }
      }
      if (kept >= goal) { lo = mid; } else { hi = mid; }
    }
    p_bits = lo;
  }
  var total = 0.0;
  var fallback = 0u;
  for (var c = 0u; c < n; c++) {
    let e = cand_e[c];
    if (bitcast<u32>(e) >= p_bits) {
      total += e;
      if (e > 0.0) { fallback = cand_i[c]; }
    }
  }
  let goal_u = rp.u * total;
  var acc = 0.0;
  for (var c = 0u; c < n; c++) {
    let e = cand_e[c];
    if (bitcast<u32>(e) >= p_bits) {
      acc += e;
      if (acc > goal_u) { return cand_i[c]; }
    }
  }
  return fallback;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  if (lid == 0u) {
    wg_params = row_params[row];
    claimed = 0u;
  }
  let rp = workgroupUniformLoad(&wg_params);
  let vocab = params.vocab;
  let base = row * vocab;

  // Largest non-NaN logit and its lowest index, and the first NaN (argmax's pick when there is one).
  var key = 0u;
  var index = NONE;
  var first_nan = NONE;
  for (var i = lid; i < vocab; i += WG) {
    let l = logits[base + i];
    if (!is_nan(l)) {
      let k = ordered_key(l);
      if (index == NONE || k > key) {
        key = k;
        index = i;
      }
    } else if (first_nan == NONE) {
      first_nan = i;
    }
  }
  red_u[lid] = key;
  red_i[lid] = index;
  red_nan[lid] = first_nan;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      let ok = red_u[lid + s];
      let oi = red_i[lid + s];
      if (oi != NONE && (red_i[lid] == NONE || ok > red_u[lid] || (ok == red_u[lid] && oi < red_i[lid]))) {
        red_u[lid] = ok;
        red_i[lid] = oi;
      }
      red_nan[lid] = min(red_nan[lid], red_nan[lid + s]);
    }
  }
  let best_key = workgroupUniformLoad(&red_u[0]);
  let best_index = workgroupUniformLoad(&red_i[0]);
  let nan_index = workgroupUniformLoad(&red_nan[0]);
  if (rp.temperature <= 0.0 || rp.top_k == 1u) {
    if (lid == 0u) { out[row] = select(best_index, nan_index, nan_index != NONE); }
    return;
  }
  if (best_index == NONE) {
    if (lid == 0u) { out[row] = 0u; }
    return;
  }
  let max_logit = key_to_f32(best_key);

  // Top-k threshold: the top_k-th largest key (duplicates counted), found exactly by a radix
  // select over its four bytes, highest first: a histogram of the byte among the keys that match
  // the bytes found so far, then the byte where the count from the top reaches what is still
  // needed. Fewer than top_k numbers keep them all (threshold 0).
  var k_thresh = 0u;
  if (rp.top_k > 1u && rp.top_k < vocab) {
    var prefix = 0u;
    var need = rp.top_k;
    for (var byte = 0u; byte < 4u; byte++) {
      let shift = 24u - 8u * byte;
      // Bits above this byte (none in the first pass: a shift by 32 is not defined).
      let high = select(0xffffffffu << (shift + 8u), 0u, byte == 0u);
      atomicStore(&hist[lid], 0u); // WG == 256: one bin per invocation
      workgroupBarrier();
      for (var i = lid; i < vocab; i += WG) {
        let l = logits[base + i];
        let k = ordered_key(l);
        if (!is_nan(l) && (k & high) == prefix) { atomicAdd(&hist[(k >> shift) & 255u], 1u); }
      }
      workgroupBarrier();
      if (lid == 0u) {
        var d = 255u;
        var left = need;
        loop {
          let c = atomicLoad(&hist[d]);
          if (c >= left) { break; }
          left -= c;
          if (d == 0u) { left = 0u; break; }
          d -= 1u;
        }
        // left == 0: fewer than top_k numbers in all (only possible in the first pass).
        wg_radix = vec2<u32>(prefix | (d << shift), left);
      }
      let r = workgroupUniformLoad(&wg_radix);
      if (r.y == 0u) { prefix = 0u; break; }
      prefix = r.x;
      need = r.y;
    }
    k_thresh = prefix;
  }

  let keep = Keep(base, k_thresh, max_logit, rp.temperature, rp.min_p);

  // One sweep over what top-k and min-p keep (invocation lid owns a contiguous chunk, so the
  // chunks are in index order): how many, their mass, and how many per binary exponent of e.
  let chunk = (vocab + WG - 1u) / WG;
  let start = min(lid * chunk, vocab);
  let end = min(start + chunk, vocab);
  atomicStore(&hist[lid], 0u);
  workgroupBarrier();
  var kept = 0u;
  var mass = 0.0;
  for (var i = start; i < end; i++) {
    let e = kept_e(keep, i, 0u);
    if (e >= 0.0) {
      kept += 1u;
      mass += e;
      atomicAdd(&hist[bitcast<u32>(e) >> 23u], 1u);
    }
  }
  workgroupBarrier();
  red_u[lid] = kept;
  red_f[lid] = mass;
  workgroupBarrier();
  if (lid == 0u) {
    var count = 0u;
    var total = 0.0;
    for (var t = 0u; t < WG; t++) {
      count += red_u[t];
      total += red_f[t];
    }
    // Too many to hold: a bound under which top-p cannot reach. Every e of exponent byte b is
    // >= 2^(b - 127), so the kept e from the top exponent down to b have at least that count
    // times it in mass; at the first b where that reaches the goal, the tokens with e >= 2^(b -
    // 127) hold the whole top-p set. NONE when top-p is off or they are still too many.
    var bound = 0u;
    if (count > CANDIDATES) {
      bound = NONE;
      if (rp.top_p < 1.0) {
        let goal = rp.top_p * total;
        var n = 0u;
        var low = 0.0;
        for (var b = 127i; b >= 0i; b--) {
          let c = atomicLoad(&hist[b]);
          n += c;
          low += f32(c) * bitcast<f32>(u32(b) << 23u);
          if (low >= goal) {
            if (n <= CANDIDATES) { bound = u32(b) << 23u; }
            break;
          }
        }
      }
    }
    wg_kept = vec3<u32>(count, bitcast<u32>(total), bound);
  }
  let summary = workgroupUniformLoad(&wg_kept);
  let kept_mass = bitcast<f32>(summary.y);
  let bound = summary.z;
  if (bound != NONE) {
    // Few enough to hold (all that is kept, or those of e >= bound): the rest runs on them alone,
    // in one invocation, with no more passes over the vocabulary.
    var n = summary.x;
    if (bound > 0u) {
      var held = 0u;
      for (var i = start; i < end; i++) {
        if (kept_e(keep, i, bound) >= 0.0) { held += 1u; }
      }
      red_u[lid] = held;
    }
    workgroupBarrier();
    if (lid == 0u) {
      var acc = 0u;
      for (var t = 0u; t < WG; t++) {
        let c = red_u[t];
        red_u[t] = acc;
        acc += c;
      }
      wg_kept.x = acc;
    }
    n = workgroupUniformLoad(&wg_kept).x;
    var at = red_u[lid];
    for (var i = start; i < end; i++) {
      let e = kept_e(keep, i, bound);
      if (e >= 0.0) {
        cand_i[at] = i;
        cand_e[at] = e;
        at += 1u;
      }
    }
    workgroupBarrier();
    if (lid == 0u) { out[row] = sample_candidates(n, rp, kept_mass); }
    return;
  }

  // Top-p over the whole vocabulary: bisection over the bits of e, a pass per step.
  var p_bits = 0u;
  if (rp.top_p < 1.0) {
    let goal = rp.top_p * kept_mass;
    var lo = 0u;
    var hi = 0x3f800001u; // e <= 1: bits up to those of 1.0
    while (hi - lo > 1u) {
      let mid = lo + (hi - lo) / 2u;
      var part = 0.0;
      for (var i = lid; i < vocab; i += WG) {
        let e = kept_e(keep, i, mid);
        if (e >= 0.0) { part += e; }
      }
      if (sum_f32(lid, part) >= goal) { lo = mid; } else { hi = mid; }
    }
    p_bits = lo;
  }

  // Inverse CDF in index order over the invocations' chunks.
  var partial = 0.0;
  var last_kept = NONE;
  for (var i = start; i < end; i++) {
    let e = kept_e(keep, i, p_bits);
    if (e >= 0.0) {
      partial += e;
      if (e > 0.0) { last_kept = i; }
    }
  }
  workgroupBarrier();
  red_f[lid] = partial;
  red_u[lid] = last_kept;
  workgroupBarrier();
  if (lid == 0u) {
    // Exclusive prefix of the chunk masses, and the last kept token as a fallback for a goal
    // that rounding puts past the total.
    var acc = 0.0;
    var fallback = 0u;
    for (var t = 0u; t < WG; t++) {
      let p = red_f[t];
      red_f[t] = acc;
      acc += p;
      if (red_u[t] != NONE) { fallback = red_u[t]; }
    }
    wg_goal = rp.u * acc;
    wg_fallback = fallback;
  }
  workgroupBarrier();
  let goal_u = wg_goal;
  let prefix = red_f[lid];
  if (partial > 0.0 && prefix <= goal_u && goal_u < prefix + partial) {
    var acc = prefix;
    var chosen = last_kept;
    for (var i = start; i < end; i++) {
      let e = kept_e(keep, i, p_bits);
      if (e >= 0.0) {
        acc += e;
        if (acc > goal_u) {
          chosen = i;
          break;
        }
      }
    }
    out[row] = chosen;
    claimed = 1u;
  }
  workgroupBarrier();
  if (lid == 0u && claimed == 0u) { out[row] = wg_fallback; }
}
`;
  return { declaration, body };
}
