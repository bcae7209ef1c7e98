/** The bits of f32(1 / max). */
const invMaxBits = (max: number) => new Uint32Array(Float32Array.of(1 / max).buffer)[0]!.toString(16);

/**
 * @llm/quant's symmetric row quantization to -max..max (kv-i8.ts symmetricScale and
 * quantizeSymmetric) in WGSL, step for step and exact in f32, so a GPU kernel quantizes a row to
 * the same bits as the CPU: `rowScale(absmax)` gives the row's (or group's) f16-exact scale,
 * `quantize(x, s)` four values' integers.
 */
export const symmetricQuantizeWgsl = (max: number) => /* wgsl */ `
// f32(1 / ${max}), the smallest normal f16 and the largest f16 (see @llm/quant kv-i8.ts).
const INV_MAX = bitcast<f32>(0x${invMaxBits(max)}u);
const MIN_SCALE = 6.103515625e-5;
const MAX_SCALE = 65504.0;

// absmax / ${max} rounded to 11 significant bits (half away from zero on the f32 bits).
fn rowScale(amax: f32) -> f32 {
  let s = bitcast<f32>((bitcast<u32>(amax * INV_MAX) + 0x1000u) & 0xffffe000u);
  return min(MAX_SCALE, max(MIN_SCALE, s));
}

// The integer nearest x / s, ties to even, clamped to +-${max}. The quotient only guesses (division
// is not correctly rounded); (n +- 0.5) * s are exact products, so comparing x with them decides.
fn quantize(x: vec4<f32>, s: f32) -> vec4<i32> {
  let n = round(x / s);
  let up = (n + 0.5) * s;
  let down = (n - 0.5) * s;
  let upEven = (vec4<i32>(n + 1.0) & vec4<i32>(1)) == vec4<i32>(0);
  let downEven = (vec4<i32>(n - 1.0) & vec4<i32>(1)) == vec4<i32>(0);
  var m = select(n, n + 1.0, (x > up) | ((x == up) & upEven));
  m = select(m, n - 1.0, (x < down) | ((x == down) & downEven));
  return vec4<i32>(clamp(m, vec4<f32>(-${max}.0), vec4<f32>(${max}.0)));
}`;

/** The int8 quantization (symmetricQuantizeWgsl(127)) and `pack4`, four int8 values to a word. */
export const I8_QUANTIZE_WGSL = /* wgsl */ `${symmetricQuantizeWgsl(127)}

// Four int8 values packed into a word, the first in the low byte (dot4I8Packed's order).
fn pack4(q: vec4<i32>) -> u32 {
  let b = bitcast<vec4<u32>>(q) & vec4<u32>(0xffu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}`;

/**
 * symmetricQuantizeWgsl(127) and `storeGroupI8(g, v, amax)`: 32 values of x (8 vec4s, their
 * largest magnitude amax) quantized as @llm/quant's quantizeGroupsI8 does, written as group g of
 * the module's `xq` (i32, vec4s) and `xg` ((scale, sum) as vec2<f32>) bindings.
 */
export const GROUP_I8_WGSL = /* wgsl */ `${symmetricQuantizeWgsl(127)}

fn storeGroupI8(g: u32, v: array<vec4<f32>, 8>, amax: f32) {
  let s = rowScale(amax);
  var sum = 0;
  for (var j = 0u; j < 8u; j++) {
    let q = quantize(v[j], s);
    xq[g * 8u + j] = q;
    sum += q.x + q.y + q.z + q.w;
  }
  xg[g] = vec2<f32>(s, f32(sum));
}`;
