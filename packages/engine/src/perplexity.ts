import { LlmError } from '@llm/quant';

// Perplexity and KL divergence as llama.cpp's llama-perplexity computes them (tools/perplexity):
// the text is cut into windows of n_ctx tokens, each window's first token replaced by BOS when the
// model adds one, and only the tokens of the window's second half are scored, so every scored token
// has at least n_ctx/2 tokens of context. All sums are f64.

/** One window of the token stream: `tokens[start, start + length)`. */
export interface ScoredWindow {
  readonly start: number;
  readonly length: number;
  /**
   * First position whose logits are read: logits at position j (j >= first, j < length - 1) score
   * the window's token j + 1, so a window scores `length - 1 - first` tokens.
   */
  readonly first: number;
}

/**
 * The windows llama-perplexity scores: floor(tokens / context) windows of `context` tokens, back
 * to back (the remainder is not scored); like llama.cpp it wants at least two windows.
 */
export function perplexityWindows(numTokens: number, context: number): ScoredWindow[] {
  if (!Number.isInteger(context) || context < 4) {
    throw new LlmError('invalid_argument', `the context must be an integer of at least 4 tokens, got ${context}`);
  }
  if (numTokens < 2 * context) {
    throw new LlmError(
      'invalid_argument',
      `perplexity with a context of ${context} needs at least ${2 * context} tokens (two windows); the text has ${numTokens}: give more text or a smaller context`,
    );
  }
  const count = Math.floor(numTokens / context);
  return Array.from({ length: count }, (_, i) => ({ start: i * context, length: context, first: context >> 1 }));
}

/** ln softmax(logits) in f64, with the largest logit subtracted first. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i]! - max);
  const shift = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logits[i]! - shift;
  return out;
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * Mean and standard error of the mean from a sum and a sum of squares, as llama.cpp's
 * `mean_and_uncertainty` (no uncertainty from `minCount` values or fewer: 10 in its KL statistics,
 * 1 in its perplexity).
 */
export function meanAndStderr(
  sum: number,
  sumSquares: number,
  count: number,
  minCount = 10,
): { mean: number; stderr: number } {
  if (count < 1) return { mean: 0, stderr: 0 };
  const mean = sum / count;
  const variance = sumSquares / count - mean * mean;
  return { mean, stderr: variance > 0 && count > minCount ? Math.sqrt(variance / (count - 1)) : 0 };
}

/** A value with its standard error. */
export interface Estimate {
  readonly value: number;
  readonly stderr: number;
}

export interface PerplexityResult {
  /** exp(mean negative log-likelihood), with stderr ppl * stderr(nll). */
  readonly perplexity: Estimate;
  /** Mean negative log-likelihood per token (nats). */
  readonly meanNll: Estimate;
  readonly tokens: number;
}

/** Accumulates the negative log-likelihood of scored tokens. */
export class PerplexityAccumulator {
  private sum = 0;
  private sumSquares = 0;
  private n = 0;

  /** Scores `token` under one position's logits; returns its negative log-likelihood. */
  addLogits(logits: ArrayLike<number>, token: number): number {
    return this.addNll(-logSoftmax(logits)[token]!);
  }

  addNll(nll: number): number {
    this.sum += nll;
    this.sumSquares += nll * nll;
    this.n++;
    return nll;
  }

  get count(): number {
    return this.n;
  }

  result(): PerplexityResult {
    const { mean, stderr } = meanAndStderr(this.sum, this.sumSquares, this.n, 1);
    const ppl = Math.exp(mean);
    return { perplexity: { value: ppl, stderr: ppl * stderr }, meanNll: { value: mean, stderr }, tokens: this.n };
  }
}

/** KL(P || Q) = sum p (ln p - ln q) over full log-distributions, in f64. */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i]!;
    // p = 0 contributes nothing (the limit of p ln p), even where q is 0 too.
    if (lp === -Infinity) continue;
    sum += Math.exp(lp) * (lp - logQ[i]!);
  }
  // Rounding can leave a tiny negative sum for identical distributions; KL is never negative.
  return Math.max(0, sum);
}

export interface KlDivergenceResult {
  readonly tokens: number;
  readonly meanKld: Estimate;
  readonly medianKld: number;
  readonly p99Kld: number;
  readonly maxKld: number;
  /** Fraction of tokens whose most likely next token is the same under both models. */
  readonly sameTop: Estimate;
  readonly base: PerplexityResult;
  readonly quant: PerplexityResult;
  /** PPL(Q)/PPL(base) = exp(mean ln ratio), its stderr from the correlated nll sums as llama.cpp's. */
  readonly pplRatio: Estimate;
}

/**
 * Accumulates KL(P_base || P_quant), top-1 agreement and both perplexities over scored tokens;
 * keeps one f32 per token (the KLD values, for the median and percentiles), never the logits.
 */
export class KlDivergenceAccumulator {
  private sumKld = 0;
  private sumKld2 = 0;
  private sameTopCount = 0;
  private sumNll = 0;
  private sumNll2 = 0;
  private sumNllBase = 0;
  private sumNllBase2 = 0;
  private sumNllNllBase = 0;
  private values: Float32Array = new Float32Array(1024);
  private n = 0;

  /** One scored position: both models' logits there and the token that follows. Returns its KLD. */
  add(baseLogits: ArrayLike<number>, quantLogits: ArrayLike<number>, token: number): number {
    if (baseLogits.length !== quantLogits.length) {
      throw new LlmError('invalid_argument', `the two models' vocabularies differ: ${baseLogits.length} and ${quantLogits.length} logits`);
    }
    const logP = logSoftmax(baseLogits);
    const logQ = logSoftmax(quantLogits);
    const kld = klDivergence(logP, logQ);
    const nllBase = -logP[token]!;
    const nll = -logQ[token]!;
    this.sumKld += kld;
    this.sumKld2 += kld * kld;
    if (argmax(baseLogits) === argmax(quantLogits)) this.sameTopCount++;
    this.sumNll += nll;
    this.sumNll2 += nll * nll;
    this.sumNllBase += nllBase;
    this.sumNllBase2 += nllBase * nllBase;
    this.sumNllNllBase += nll * nllBase;
    if (this.n === this.values.length) {
      const grown = new Float32Array(2 * this.n);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.n++] = kld;
    return kld;
  }

  get count(): number {
    return this.n;
  }

  result(): KlDivergenceResult {
    const n = this.n;
    const sorted = this.values.slice(0, n).sort();
    const nll = meanAndStderr(this.sumNll, this.sumNll2, n);
    const nllBase = meanAndStderr(this.sumNllBase, this.sumNllBase2, n);
    const cov = n < 10 ? 0 : (this.sumNllNllBase / n - (this.sumNll / n) * (this.sumNllBase / n)) / (n - 1);
    const lnRatio = nll.mean - nllBase.mean;
    const lnRatioErr = Math.sqrt(Math.max(0, nll.stderr ** 2 + nllBase.stderr ** 2 - 2 * cov));
    const ratio = Math.exp(lnRatio);
    const top = n > 0 ? this.sameTopCount / n : 0;
    const perplexity = (e: { mean: number; stderr: number }): PerplexityResult => {
      const ppl = Math.exp(e.mean);
      return { perplexity: { value: ppl, stderr: ppl * e.stderr }, meanNll: { value: e.mean, stderr: e.stderr }, tokens: n };
    };
    const kld = meanAndStderr(this.sumKld, this.sumKld2, n);
    return {
      tokens: n,
      meanKld: { value: kld.mean, stderr: kld.stderr },
      medianKld: median(sorted),
      p99Kld: percentile(sorted, 0.99),
      maxKld: n > 0 ? sorted[n - 1]! : 0,
      sameTop: { value: top, stderr: n > 1 ? Math.sqrt((top * (1 - top)) / (n - 1)) : 0 },
      base: perplexity(nllBase),
      quant: perplexity(nll),
      pplRatio: { value: ratio, stderr: ratio * lnRatioErr },
    };
  }
}

/** The median of sorted values (the mean of the middle two for an even count), as llama.cpp's. */
export function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return 0;
  return n % 2 === 0 ? 0.5 * (sorted[n / 2]! + sorted[n / 2 - 1]!) : sorted[(n - 1) / 2]!;
}

/** Linear interpolation between the closest ranks of sorted values, as llama.cpp's `percentile`. */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[n - 1]!;
  const p = fraction * (n - 1);
  const i = Math.floor(p);
  const t = p - i;
  return (1 - t) * sorted[i]! + t * sorted[Math.min(i + 1, n - 1)]!;
}
