import { ROW_WORKGROUP, WGSL_ORDERED_KEY } from './argmax.wgsl.js';
import { declareKernel } from './kernel-declaration.js';

/** The most top logprobs per row (OpenAI's `top_logprobs` allows 0-20). */
export const MAX_TOP_LOGPROBS = 20;

/**
 * Log-softmax of each row, one workgroup per row, in one pass over the logits: each invocation
 * keeps a running max and sum of exp(l - max) (rescaled when the max grows) and its own sorted
 * top n over a strided slice; the workgroup merges the sums, then picks the top n in n rounds of
 * a reduction over the invocations' list heads. logprob = (l - max) - log(sum).
 * - Rank: larger logit first, ties to the lower id. NaN logits are left out of the sum, rank
 *   below -inf and get a NaN logprob; -inf gets -inf; a row with no finite logit gets NaN.
 * - out u32 [rows, 1 + n, 2]: pair 0 is (chosen[row], its logprob; NaN if chosen >= vocab), pairs
 *   1..n the top n as (id, logprob bits); past the vocabulary (n > vocab) (0xffffffff, -inf).
 */
export function topLogprobsKernel() {
  const declaration = declareKernel({
    name: 'top-logprobs',
    params: { rows: 'u32', vocab: 'u32', n: 'u32' },
    bindings: {
      logits: { access: 'read', type: 'f32' },
      chosen: { access: 'read', type: 'u32' },
      out: { access: 'read_write', type: 'u32' },
    },
  });
  const body = /* wgsl */ `${WGSL_ORDERED_KEY}

const WG = ${ROW_WORKGROUP}u;
const MAX_N = ${MAX_TOP_LOGPROBS}u;
const NONE = 0xffffffffu;
const NAN_BITS = 0x7fc00000u;
const NEG_INF_BITS = 0xff800000u;
// The running max starts at the lowest finite f32, not -inf, so that no inf - inf arises.
const LOWEST = -0x1.fffffep+127f;
// Rank keys: ordered_key of the logit, but NaN is 1 (below -inf's key, 0x007fffff) and 0 an empty slot.
const NAN_KEY = 1u;
const EMPTY = 0u;

var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;
var<workgroup> wg_max: f32;
var<workgroup> wg_log_sum: f32;
var<workgroup> wg_sum: f32;
var<private> top_k: array<u32, MAX_N>;
var<private> top_i: array<u32, MAX_N>;

fn rank_key(v: f32) -> u32 {
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { return NAN_KEY; }
  return ordered_key(v);
}

fn logprob_bits(l: f32, row_max: f32, log_sum: f32, sum: f32) -> u32 {
  let bits = bitcast<u32>(l);
  if ((bits & 0x7fffffffu) > 0x7f800000u || !(sum > 0.0)) { return NAN_BITS; }
  if (bits == NEG_INF_BITS) { return NEG_INF_BITS; }
  return bitcast<u32>((l - row_max) - log_sum);
}

fn key_to_logit_bits(key: u32) -> u32 {
  if (key == NAN_KEY) { return NAN_BITS; }
  if ((key >> 31u) == 1u) { return key & 0x7fffffffu; }
  return ~key;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let vocab = params.vocab;
  let n = params.n;
  let base = row * vocab;
  for (var j = 0u; j < MAX_N; j++) {
    top_k[j] = EMPTY;
    top_i[j] = NONE;
  }
  // A candidate enters the list when its key beats the last slot's; with n = 0 nothing does.
  var worst = select(EMPTY, NONE, n == 0u);
  var m = LOWEST;
  var s = 0.0;
  // Ascending indices and strict comparisons keep the lower id first among equal logits.
  for (var i = lid; i < vocab; i += WG) {
    let l = logits[base + i];
    let k = rank_key(l);
    if (k > worst) {
      var j = n - 1u;
      loop {
        if (j == 0u || top_k[j - 1u] >= k) { break; }
        top_k[j] = top_k[j - 1u];
        top_i[j] = top_i[j - 1u];
        j--;
      }
      top_k[j] = k;
      top_i[j] = i;
      worst = top_k[n - 1u];
    }
    if ((bitcast<u32>(l) & 0x7fffffffu) < 0x7f800000u) {
      if (l > m) {
        s = s * exp(m - l) + 1.0;
        m = l;
      } else {
        s += exp(l - m);
      }
    }
  }

  red_m[lid] = m;
  red_s[lid] = s;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) {
      let ma = red_m[lid];
      let mb = red_m[lid + stride];
      let mx = max(ma, mb);
      red_s[lid] = red_s[lid] * exp(ma - mx) + red_s[lid + stride] * exp(mb - mx);
      red_m[lid] = mx;
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    wg_max = red_m[0];
    wg_sum = red_s[0];
    // The sum is >= 1 (the max contributes exp(0)) whenever the row has a finite logit.
    wg_log_sum = log(max(red_s[0], 1.0));
  }
  workgroupBarrier();
  let row_max = wg_max;
  let sum = wg_sum;
  let log_sum = wg_log_sum;
  let o = row * (1u + n) * 2u;

  var head = 0u;
  for (var t = 0u; t < n; t++) {
    workgroupBarrier();
    if (head < n) {
      red_k[lid] = top_k[head];
      red_i[lid] = top_i[head];
    } else {
      red_k[lid] = EMPTY;
      red_i[lid] = NONE;
    }
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      if (lid < stride) {
        let ok = red_k[lid + stride];
        let oi = red_i[lid + stride];
        if (ok > red_k[lid] || (ok == red_k[lid] && oi < red_i[lid])) {
          red_k[lid] = ok;
          red_i[lid] = oi;
        }
      }
    }
    let win_k = workgroupUniformLoad(&red_k[0]);
    let win_i = workgroupUniformLoad(&red_i[0]);
    // Ids are distinct, so exactly one list (none once all are empty) loses its head.
    if (win_i != NONE && head < n && top_i[head] == win_i) { head++; }
    if (lid == 0u) {
      let at = o + 2u * (1u + t);
      if (win_k == EMPTY) {
        out[at] = NONE;
        out[at + 1u] = NEG_INF_BITS;
      } else {
        out[at] = win_i;
        out[at + 1u] = logprob_bits(bitcast<f32>(key_to_logit_bits(win_k)), row_max, log_sum, sum);
      }
    }
  }

  if (lid == 0u) {
    let c = chosen[row];
    out[o] = c;
    out[o + 1u] = select(NAN_BITS, logprob_bits(logits[base + min(c, vocab - 1u)], row_max, log_sum, sum), c < vocab);
  }
}
`;
  return { declaration, body };
}
