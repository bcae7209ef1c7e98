export interface RopeReferenceArgs {
  /** [tokens, numHeads, headDim], rotated in place. */
  q: Float32Array;
  /** [tokens, numKvHeads, headDim], rotated in place. */
  k: Float32Array;
  positions: Uint32Array;
  tokens: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  theta: number;
  layout: 'adjacent' | 'halfSplit';
  freqFactors?: Float32Array | undefined;
  positionScale?: number | undefined;
}

/** Rotary embedding in place, angles in f64: p * positionScale * theta^(-2i/d) / factor_i. */
export function rope(a: RopeReferenceArgs): void {
  const { tokens, numHeads, numKvHeads, headDim, theta, layout, freqFactors } = a;
  const scale = a.positionScale ?? 1;
  const half = headDim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++)
    invFreq[i] = theta ** (-(2 * i) / headDim) / (freqFactors ? freqFactors[i]! : 1);
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  const rotate = (x: Float32Array, base: number): void => {
    for (let i = 0; i < half; i++) {
      const i0 = layout === 'adjacent' ? 2 * i : i;
      const i1 = layout === 'adjacent' ? 2 * i + 1 : i + half;
      const x0 = x[base + i0]!;
      const x1 = x[base + i1]!;
      x[base + i0] = x0 * cos[i]! - x1 * sin[i]!;
      x[base + i1] = x0 * sin[i]! + x1 * cos[i]!;
    }
  };
  for (let t = 0; t < tokens; t++) {
    const p = a.positions[t]! * scale;
    for (let i = 0; i < half; i++) {
      cos[i] = Math.cos(p * invFreq[i]!);
      sin[i] = Math.sin(p * invFreq[i]!);
    }
    for (let h = 0; h < numHeads; h++) rotate(a.q, (t * numHeads + h) * headDim);
    for (let h = 0; h < numKvHeads; h++) rotate(a.k, (t * numKvHeads + h) * headDim);
  }
}
