import { declareKernel } from './kernel-declaration.js';
import type { StorageFormat } from './storage-format.js';

/** Invocations per (token, head) of the naive paged attention kernel; also its key chunk. */
export const NAIVE_ATTENTION_WORKGROUP = 64;

/**
 * Straightforward causal attention over the paged KV pool, one workgroup per (query head,
 * token): keys are visited in chunks of 64, one score per invocation, and an online softmax
 * (running max and sum) folds each chunk into the output, which invocations own by dimension
 * (d = lid, lid + 64, ...). Correct for head dims up to 256; not tuned.
 */
export function pagedAttentionNaiveKernel(pool: StorageFormat) {
  const declaration = declareKernel({
    name: 'pagedAttentionNaive',
    params: {
      num_tokens: 'u32',
      num_heads: 'u32',
      num_kv_heads: 'u32',
      head_dim: 'u32',
      block_size: 'u32',
      max_blocks_per_seq: 'u32',
      scale: 'f32',
    },
    bindings: {
      q: { access: 'read', type: 'f32' },
      k_cache: { access: 'read', format: pool, unit: 'scalar', load: 'k_cacheAt' },
      v_cache: { access: 'read', format: pool, unit: 'scalar', load: 'v_cacheAt' },
      block_tables: { access: 'read', type: 'u32' },
      query_starts: { access: 'read', type: 'u32' },
      context_lens: { access: 'read', type: 'u32' },
      token_seq_ids: { access: 'read', type: 'u32' },
      out: { access: 'read_write', type: 'f32' },
    },
  });
  const body = /* wgsl */ `

const WG = ${NAIVE_ATTENTION_WORKGROUP}u;
// Output dims per invocation: head_dim <= 256 = 4 * WG.
const MAX_DIMS = 4u;
var<workgroup> q_tile: array<f32, 256>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> wg_pos: u32;

// Offset of (slot of KV position j, kv head) in the pool.
fn kv_base(seq: u32, j: u32, kvh: u32) -> u32 {
  let block = block_tables[seq * params.max_blocks_per_seq + j / params.block_size];
  let offset = j % params.block_size;
  return ((block * params.num_kv_heads + kvh) * params.block_size + offset) * params.head_dim;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let h = wid.x;
  let t = wid.z * nwg.y + wid.y;
  if (t >= params.num_tokens) { return; }
  let hd = params.head_dim;
  let seq = token_seq_ids[t];
  let kvh = h / (params.num_heads / params.num_kv_heads);
  let q_base = (t * params.num_heads + h) * hd;
  for (var d = lid; d < hd; d += WG) { q_tile[d] = q[q_base + d]; }
  if (lid == 0u) {
    // Causal: this token's position within its sequence's context.
    wg_pos = context_lens[seq] - (query_starts[seq + 1u] - t);
  }
  let pos = workgroupUniformLoad(&wg_pos);

  var acc: array<f32, MAX_DIMS>;
  var m = -3.0e38;
  var l = 0.0;
  for (var c0 = 0u; c0 <= pos; c0 += WG) {
    let j = c0 + lid;
    var s = -3.0e38;
    if (j <= pos) {
      let kb = kv_base(seq, j, kvh);
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += q_tile[d] * k_cacheAt(kb + d); }
      s = dot * params.scale;
    }
    scores[lid] = s;
    workgroupBarrier();
    let n = min(WG, pos + 1u - c0);
    var chunk_max = scores[0];
    for (var i = 1u; i < n; i++) { chunk_max = max(chunk_max, scores[i]); }
    let m_new = max(m, chunk_max);
    let correction = exp(m - m_new);
    l *= correction;
    for (var r = 0u; r < MAX_DIMS; r++) { acc[r] *= correction; }
    for (var i = 0u; i < n; i++) {
      let p = exp(scores[i] - m_new);
      l += p;
      let vb = kv_base(seq, c0 + i, kvh);
      for (var r = 0u; r < MAX_DIMS; r++) {
        let d = lid + r * WG;
        if (d < hd) { acc[r] += p * v_cacheAt(vb + d); }
      }
    }
    m = m_new;
    workgroupBarrier();
  }
  for (var r = 0u; r < MAX_DIMS; r++) {
    let d = lid + r * WG;
    if (d < hd) { out[q_base + d] = acc[r] / l; }
  }
}
`;
  return { declaration, body };
}
