import { declareKernel } from './kernel-declaration.js';
import { I8_QUANTIZE_WGSL } from './i8-quantize.wgsl.js';
import { epilogueBindings, LINEAR_PARAMS, storeFn, tileRows, tileStores, type LinearEpilogueVariant } from './linear.wgsl.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// Invocations per workgroup of the quantization (one token each): small, so that a prompt's
// tokens spread over the cores of a CPU adapter.
export const QUANTIZE_WORKGROUP = 16;

const QUANTIZE_PARAMS = {
  k: 'u32', // input features K (a multiple of 4)
  words: 'u32', // vec4<u32> words per quantized row: K padded to the weight's row stride
  tokens: 'u32',
} as const;

/**
 * Quantizes activations to int8 rows, one invocation per token: the row's values times the
 * weight's inverse smoothing factors (when it has them), their absmax, the row's scale and its
 * int8 values, 16 to a vec4<u32> word, zeros past K. The arithmetic is @llm/quant's
 * quantizeKvI8Row on the smoothed f32 values, so a CPU reference quantizes to the same bits.
 */
export function quantizeI8Kernel(smooth: boolean) {
  const declaration = declareKernel({
    name: 'quantizeActivationsI8',
    params: QUANTIZE_PARAMS,
    bindings: {
      x: { access: 'read', type: 'vec4<f32>' },
      inv_smooth: { access: 'read', type: 'vec4<f32>', present: smooth },
      xq: { access: 'read_write', type: 'vec4<u32>' },
      x_scales: { access: 'read_write', type: 'f32' },
    },
  });
  const value = (at: string, c: string) => (smooth ? `x[${at} + ${c}] * inv_smooth[${c}]` : `x[${at} + ${c}]`);
  const body = /* wgsl */ `${I8_QUANTIZE_WGSL}

@compute @workgroup_size(${QUANTIZE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.y * nwg.x * ${QUANTIZE_WORKGROUP}u + gid.x;
  if (t >= params.tokens) { return; }
  let k4 = params.k / 4u;
  let at = t * k4;
  var m = vec4<f32>(0.0);
  for (var c = 0u; c < k4; c++) {
    m = max(m, abs(${value('at', 'c')}));
  }
  let s = rowScale(max(max(m.x, m.y), max(m.z, m.w)));
  x_scales[t] = s;
  for (var i = 0u; i < params.words; i++) {
    var word = vec4<u32>(0u);
    for (var j = 0u; j < 4u; j++) {
      let c = 4u * i + j;
      if (c < k4) { word[j] = pack4(quantize(${value('at', 'c')}, s)); }
    }
    xq[t * params.words + i] = word;
  }
}
`;
  return { declaration, body };
}

export interface I8TileShape {
  /** Tokens per block of the invocation's loop. */
  tokens: number;
  workgroup: number;
  subgroup: number;
}

/**
 * W8A8 product on int8 rows: each invocation owns 4 weight rows and takes the tokens `tokens` at
 * a time, as the float tile kernel does; per step a lane loads one vec4<u32> (16 int8 inputs) of
 * each token's x, handed to the others by `subgroupShuffle`, and each row's 16 weights in one
 * 16-byte load, summed by 4 packed dot products (`dot4I8Packed`) into an i32 per (row, token). The
 * sums are exact, so a token's result does not depend on the pass, the block or the kernel's
 * shape; each output is f32(sum) * weight scale * token scale, then the linear epilogue.
 */
export function linearI8Kernel(v: LinearEpilogueVariant, s: I8TileShape) {
  const declaration = declareKernel({
    name: 'linearI8',
    params: LINEAR_PARAMS,
    bindings: {
      x: { access: 'read', type: 'vec4<u32>' },
      x_scales: { access: 'read', type: 'f32' },
      w: { access: 'read', type: 'vec4<u32>' },
      w_scales: { access: 'read', type: 'f32' },
      ...epilogueBindings(v),
    },
    enable: ['subgroups'],
  });
  const R = range(4);
  const T = range(s.tokens);
  const body = /* wgsl */ `${storeFn(v)}

fn dot16(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  // Invocations past the last row block recompute it (every lane takes part in the shuffles);
  // store4 leaves their rows out.
  let n0 = gid.x * 4u;
  let last = params.n_count - 1u;
  // row_stride: vec4<u32> words per row (K padded to a whole number of subgroup steps).
  let words = params.row_stride;
  ${tileRows('wr', 'words')}
  ${R.map((r) => `let ws${r} = w_scales[min(n0 + ${r}u, last)];`).join('\n  ')}
  for (var tb = 0u; tb < params.tokens; tb += ${s.tokens}u) {
  ${T.map((t) => `let tx${t} = params.t0 + min(tb + ${t}u, params.tokens - 1u);`).join('\n  ')}
  ${T.map((t) => `let xr${t} = tx${t} * words; let xs${t} = x_scales[tx${t}];`).join('\n  ')}
  ${T.flatMap((t) => R.map((r) => `var a${t}_${r} = 0;`)).join('\n  ')}
  for (var c = 0u; c < words; c += ${s.subgroup}u) {
    ${T.map((t) => `let xl${t} = x[xr${t} + c + lane];`).join('\n    ')}
    for (var j = 0u; j < ${s.subgroup}u; j++) {
      ${R.map((r) => `let w${r} = w[wr${r} + c + j];`).join('\n      ')}
      ${T.map((t) => `{
        let xv = subgroupShuffle(xl${t}, j);
        ${R.map((r) => `a${t}_${r} += dot16(w${r}, xv);`).join('\n        ')}
      }`).join('\n      ')}
    }
  }
  ${tileStores(R, T, (t, r) => `f32(a${t}_${r}) * ws${r} * xs${t}`)}
  }
}
`;
  return { declaration, body };
}
