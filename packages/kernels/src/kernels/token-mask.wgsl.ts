import { declareKernel } from './kernel-declaration.js';
import { ELEMENTWISE_WORKGROUP } from './workgroup-grid.js';

/**
 * Token masks (grammar-constrained decoding): one invocation per (mask, token). A clear bit stores
 * -inf's bits into the logit of its row; a set bit leaves the logit's bits as they were, and rows no
 * mask names are never touched, so unconstrained rows sample exactly as without masks.
 */
export function tokenMaskKernel() {
  const declaration = declareKernel({
    name: 'token-mask',
    params: { masks: 'u32', rows: 'u32', vocab: 'u32', words: 'u32' },
    bindings: {
      logits: { access: 'read_write', type: 'u32' },
      bitmask: { access: 'read', type: 'u32' },
      mask_rows: { access: 'read', type: 'u32' },
    },
  });
  const body = /* wgsl */ `
const WG = ${ELEMENTWISE_WORKGROUP}u;
const NEG_INF_BITS = 0xff800000u;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.masks * params.vocab) { return; }
  let m = i / params.vocab;
  let token = i % params.vocab;
  let row = mask_rows[m];
  if (row >= params.rows) { return; }
  let word = bitmask[m * params.words + token / 32u];
  if (((word >> (token % 32u)) & 1u) == 0u) {
    logits[row * params.vocab + token] = NEG_INF_BITS;
  }
}
`;
  return { declaration, body };
}
