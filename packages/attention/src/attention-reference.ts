/**
 * Float64 CPU reference for paged attention over a packed variable-length batch. It reads the
 * same layouts the kernels read, so it checks the block-table indirection as well as the maths.
 */
export interface HostAttentionInputs {
  /** [numTokens, numHeads, headDim] */
  q: Float32Array;
  /** [numBlocks, blockSize, numKvHeads, headDim] */
  kCache: Float32Array;
  vCache: Float32Array;
  /** [numSeqs, maxBlocksPerSeq] */
  blockTables: Uint32Array;
  /** [numSeqs + 1] */
  queryStarts: Uint32Array;
  /** [numSeqs], KV length including the new tokens. */
  contextLens: Uint32Array;
  numSeqs: number;
  maxBlocksPerSeq: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  scale: number;
}

/**
 * Attention output for the packed tokens listed in `tokens` (all tokens when omitted), as
 * float64 `[tokens.length, numHeads, headDim]`.
 */
export function attentionReference(inp: HostAttentionInputs, tokens?: readonly number[]): Float64Array {
  const { numHeads, numKvHeads, headDim: d, blockSize, numSeqs } = inp;
  const numTokens = inp.queryStarts[numSeqs]!;
  const list = tokens ?? Array.from({ length: numTokens }, (_, t) => t);
  const group = numHeads / numKvHeads;
  const out = new Float64Array(list.length * numHeads * d);
  const acc = new Float64Array(d);
  let scores = new Float64Array(0);
  let seq = 0;
  for (let row = 0; row < list.length; row++) {
    const t = list[row]!;
    // Tokens are usually listed in order; search only when they are not.
    if (!(t >= inp.queryStarts[seq]! && t < inp.queryStarts[seq + 1]!)) {
      seq = 0;
      while (t >= inp.queryStarts[seq + 1]!) seq++;
    }
    const pos = inp.contextLens[seq]! - (inp.queryStarts[seq + 1]! - t);
    const len = pos + 1;
    if (scores.length < len) scores = new Float64Array(len);
    for (let h = 0; h < numHeads; h++) {
      const g = Math.floor(h / group);
      const qBase = (t * numHeads + h) * d;
      let max = -Infinity;
      for (let j = 0; j < len; j++) {
        const k = kvOffset(inp, seq, j, g);
        let s = 0;
        for (let x = 0; x < d; x++) s += inp.q[qBase + x]! * inp.kCache[k + x]!;
        s *= inp.scale;
        scores[j] = s;
        if (s > max) max = s;
      }
      acc.fill(0);
      let sum = 0;
      for (let j = 0; j < len; j++) {
        const p = Math.exp(scores[j]! - max);
        sum += p;
        const v = kvOffset(inp, seq, j, g);
        for (let x = 0; x < d; x++) acc[x]! += p * inp.vCache[v + x]!;
      }
      const oBase = (row * numHeads + h) * d;
      for (let x = 0; x < d; x++) out[oBase + x] = acc[x]! / sum;
    }
  }
  return out;

  function kvOffset(i: HostAttentionInputs, s: number, position: number, kvHead: number): number {
    const block = i.blockTables[s * i.maxBlocksPerSeq + Math.floor(position / blockSize)]!;
    const slot = block * blockSize + (position % blockSize);
    return (slot * numKvHeads + kvHead) * d;
  }
}
