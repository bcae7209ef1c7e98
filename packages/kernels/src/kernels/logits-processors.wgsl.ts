import { declareKernel } from './kernel-declaration.js';
import { LogitsProcessorFlag } from './pack-logits-processors.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

const hex = (v: number): string => `0x${v.toString(16)}u`;

/**
 * Logits processors, one invocation per entry of packLogitsProcessors (a distinct token of a
 * row), so the work follows the entries and not rows × vocab, and no two invocations write the
 * same logit. In f32, in vLLM's order: l = l · (l > 0 ? 1/r : r); l = l - penalty; l = l + bias;
 * a ban stores -inf. The logits are bound as u32 words: a ban writes -inf's bits (WGSL has no
 * infinite constant) and bits pass through untouched.
 */
export function logitsProcessorsKernel() {
  const declaration = declareKernel({
    name: 'logits-processors',
    // no_fuse is always 0; see below.
    params: { entries: 'u32', rows: 'u32', vocab: 'u32', no_fuse: 'u32' },
    bindings: {
      logits: { access: 'read_write', type: 'u32' },
      row_params: { access: 'read', type: 'vec2<f32>' },
      entries: { access: 'read', type: 'vec4<u32>' },
    },
  });
  const body = /* wgsl */ `
const WG = ${ELEMENTWISE_WORKGROUP}u;
const REPEAT = ${hex(LogitsProcessorFlag.repeat)};
const PENALTY = ${hex(LogitsProcessorFlag.penalty)};
const BIAS = ${hex(LogitsProcessorFlag.bias)};
const BAN = ${hex(LogitsProcessorFlag.ban)};
const TOKEN_MASK = 0x0fffffffu;
const NEG_INF_BITS = 0xff800000u;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = (wid.y * nwg.x + wid.x) * WG + lid;
  if (e >= params.entries) { return; }
  let entry = entries[e];
  let row = entry.x;
  let token = entry.y & TOKEN_MASK;
  let flags = entry.y & ~TOKEN_MASK;
  if (row >= params.rows || token >= params.vocab) { return; }
  let at = row * params.vocab + token;
  if ((flags & BAN) != 0u) {
    logits[at] = NEG_INF_BITS;
    return;
  }
  var l = bitcast<f32>(logits[at]);
  if ((flags & REPEAT) != 0u) {
    let r = row_params[row];
    l = l * select(r.x, r.y, l > 0.0);
    // XOR with a zero the compiler cannot see keeps it from fusing this product with the
    // subtraction below into one FMA, which rounds once where the CPU reference rounds twice.
    l = bitcast<f32>(bitcast<u32>(l) ^ params.no_fuse);
  }
  if ((flags & PENALTY) != 0u) { l = l - bitcast<f32>(entry.z); }
  if ((flags & BIAS) != 0u) { l = l + bitcast<f32>(entry.w); }
  logits[at] = bitcast<u32>(l);
}
`;
  return { declaration, body };
}
