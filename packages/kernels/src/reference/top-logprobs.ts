import type { TokenLogprob, TopLogprobsRow } from '../kernels/top-logprobs.js';
import { orderedKey } from './argmax.js';

/** Ranks like the kernel: larger logit first (-0 = +0), NaN below -Infinity. */
function rankKey(v: number): number {
  return Number.isNaN(v) ? 1 : orderedKey(v);
}

/**
 * `topLogprobs` in f64: per row, logprob = l - max - ln(sum exp(l - max)) over the finite logits,
 * the chosen token's and the top n (ties to the lower id; at most vocab of them). NaN logits get
 * NaN, -Infinity gets -Infinity, a row without a finite logit NaN throughout, a chosen id >= vocab
 * NaN.
 */
export function topLogprobs(
  logits: Float32Array,
  rows: number,
  vocab: number,
  chosen: ArrayLike<number>,
  n: number,
): TopLogprobsRow[] {
  const result: TopLogprobsRow[] = [];
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let max = -Infinity;
    for (const l of row) if (Number.isFinite(l) && l > max) max = l;
    let sum = 0;
    for (const l of row) if (Number.isFinite(l)) sum += Math.exp(l - max);
    const logSum = Math.log(sum);
    const logprob = (l: number): number => {
      if (Number.isNaN(l) || sum === 0) return Number.NaN;
      return l === -Infinity ? -Infinity : l - max - logSum;
    };
    const keys = Array.from(row, rankKey);
    const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => keys[b]! - keys[a]! || a - b);
    const top: TokenLogprob[] = order.slice(0, n).map((i) => ({ tokenId: i, logprob: logprob(row[i]!) }));
    const c = chosen[r]!;
    result.push({ tokenId: c, logprob: c < vocab ? logprob(row[c]!) : Number.NaN, top });
  }
  return result;
}
