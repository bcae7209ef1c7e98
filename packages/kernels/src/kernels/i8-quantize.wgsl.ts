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

/**
 * `laneSquares(a, b, c, d)` and `groupSquares(v)`: the sum of squares of a 32-value group (8
 * vec4s) in the one order every kernel uses, so that an RMSNorm's scale has the same bits whether
 * the norm's dispatch or the product that wrote x computed it: eight partial sums, of elements
 * (2L, 2L + 1, 2L + 16, 2L + 17) for L = 0..7 by a chain of fused multiply-adds each (what lane L
 * of a pairs product's 8-lane block holds), added as ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)), the
 * order of xor-shuffles by 1, 2 and 4.
 */
export const GROUP_SQUARES_WGSL = /* wgsl */ `
fn laneSquares(a: f32, b: f32, c: f32, d: f32) -> f32 {
  return fma(d, d, fma(c, c, fma(b, b, a * a)));
}

fn groupSquares(v: array<vec4<f32>, 8>) -> f32 {
  var l: array<f32, 8>;
  for (var L = 0u; L < 8u; L++) {
    let i = L / 2u;
    let c = 2u * (L % 2u);
    l[L] = laneSquares(v[i][c], v[i][c + 1u], v[4u + i][c], v[4u + i][c + 1u]);
  }
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}`;
