export interface SiluMulReferenceArgs {
  /** [tokens, 2 * hidden]: gate in [0, hidden), up in [hidden, 2 * hidden). */
  gateUp: Float32Array;
  tokens: number;
  hidden: number;
  out?: Float32Array | undefined;
}

/** out[t, j] = silu(gate[t, j]) * up[t, j]. */
export function siluMul(a: SiluMulReferenceArgs): Float32Array {
  const { gateUp, tokens, hidden } = a;
  const out = a.out ?? new Float32Array(tokens * hidden);
  for (let t = 0; t < tokens; t++) {
    const g0 = t * 2 * hidden;
    for (let j = 0; j < hidden; j++) {
      const g = gateUp[g0 + j]!;
      out[t * hidden + j] = (g / (1 + Math.exp(-g))) * gateUp[g0 + hidden + j]!;
    }
  }
  return out;
}

/** out = a + b. */
export function add(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array = new Float32Array(a.length),
): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** out[r] = src[rows[r]] for rows of `dim`; an index >= the source row count gives NaN. */
export function gatherRows(
  src: Float32Array,
  rows: Uint32Array,
  dim: number,
  out: Float32Array = new Float32Array(rows.length * dim),
): Float32Array {
  const srcRows = Math.floor(src.length / dim);
  for (let r = 0; r < rows.length; r++) {
    const s = rows[r]!;
    if (s < srcRows) out.set(src.subarray(s * dim, (s + 1) * dim), r * dim);
    else out.fill(Number.NaN, r * dim, (r + 1) * dim);
  }
  return out;
}

/**
 * out[t] = table[ids[t]] for a row-major [vocab, dim] table; an id >= vocab gives NaN.
 * (The same function serves the CPU embedding lookup.)
 */
export function embedding(
  table: Float32Array,
  ids: Uint32Array,
  dim: number,
  out: Float32Array = new Float32Array(ids.length * dim),
): Float32Array {
  return gatherRows(table, ids, dim, out);
}

/** out[t, i] = x[t, order[i]] for rows of `dim` (order a permutation of 0..dim-1). */
export function gatherColumns(x: Float32Array, order: Uint32Array, dim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let t = 0; t < x.length / dim; t++) {
    for (let i = 0; i < dim; i++) out[t * dim + i] = x[t * dim + order[i]!]!;
  }
  return out;
}
