import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  argmax,
  klDivergence,
  KlDivergenceAccumulator,
  logSoftmax,
  median,
  percentile,
  PerplexityAccumulator,
  perplexityWindows,
} from './perplexity.js';

const logits = (n: number) => fc.array(fc.float({ min: -30, max: 30, noNaN: true }), { minLength: n, maxLength: n });

describe('logSoftmax', () => {
  it('matches hand-computed values', () => {
    // logits [0, ln 3]: p = [1/4, 3/4]
    const out = logSoftmax([0, Math.log(3)]);
    expect(out[0]).toBeCloseTo(Math.log(0.25), 12);
    expect(out[1]).toBeCloseTo(Math.log(0.75), 12);
  });

  it('stays finite for large logits and sums to one', () => {
    fc.assert(
      fc.property(logits(17), fc.float({ min: -1000, max: 1000, noNaN: true }), (xs, shift) => {
        const out = logSoftmax(xs.map((x) => x + shift));
        const total = out.reduce((s, v) => s + Math.exp(v), 0);
        expect(total).toBeCloseTo(1, 9);
      }),
    );
  });
});

describe('PerplexityAccumulator', () => {
  it('gives the vocabulary size for a uniform distribution', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.float({ min: -5, max: 5, noNaN: true }), fc.integer({ min: 1, max: 20 }), (vocab, level, tokens) => {
        const acc = new PerplexityAccumulator();
        for (let t = 0; t < tokens; t++) acc.addLogits(new Float32Array(vocab).fill(level), t % vocab);
        const { perplexity } = acc.result();
        expect(perplexity.value).toBeCloseTo(vocab, 6);
        // Only rounding in E[nll^2] - mean^2 (as in llama.cpp) is left of the standard error.
        expect(perplexity.stderr).toBeLessThan(1e-6 * vocab);
      }),
    );
  });

  it('computes exp(mean nll) and its standard error as llama-perplexity', () => {
    const acc = new PerplexityAccumulator();
    // p(token) = 1/2 then 1/4: nll ln 2 and ln 4, mean 1.5 ln 2, ppl 2^1.5.
    acc.addLogits([0, 0], 1);
    acc.addLogits([0, 0, 0, 0], 2);
    const r = acc.result();
    expect(r.tokens).toBe(2);
    expect(r.perplexity.value).toBeCloseTo(2 ** 1.5, 12);
    // var = E[nll^2] - mean^2 = (ln2^2 + 4 ln2^2)/2 - 2.25 ln2^2 = 0.25 ln2^2; stderr = sqrt(var / (n-1)).
    expect(r.meanNll.stderr).toBeCloseTo(0.5 * Math.LN2, 12);
    expect(r.perplexity.stderr).toBeCloseTo(2 ** 1.5 * 0.5 * Math.LN2, 12);
  });
});

describe('klDivergence', () => {
  it('matches a hand-computed value', () => {
    // P = [1/2, 1/2], Q = [1/4, 3/4]: KL = 1/2 ln 2 + 1/2 ln(2/3)
    const p = logSoftmax([0, 0]);
    const q = logSoftmax([0, Math.log(3)]);
    expect(klDivergence(p, q)).toBeCloseTo(0.5 * Math.log(2) + 0.5 * Math.log(2 / 3), 12);
  });

  it('is never negative and zero for identical distributions', () => {
    fc.assert(
      fc.property(logits(12), logits(12), (a, b) => {
        const p = logSoftmax(a);
        expect(klDivergence(p, logSoftmax(b))).toBeGreaterThanOrEqual(0);
        expect(klDivergence(p, p)).toBe(0);
      }),
    );
  });
});

describe('KlDivergenceAccumulator', () => {
  it('reports zero divergence, full top-1 agreement and a ratio of 1 for one model against itself', () => {
    fc.assert(
      fc.property(fc.array(logits(9), { minLength: 12, maxLength: 30 }), (rows) => {
        const acc = new KlDivergenceAccumulator();
        rows.forEach((row, i) => acc.add(row, row, i % 9));
        const r = acc.result();
        expect(r.meanKld.value).toBe(0);
        expect(r.maxKld).toBe(0);
        expect(r.sameTop.value).toBe(1);
        expect(r.pplRatio.value).toBe(1);
        expect(r.base.perplexity.value).toBe(r.quant.perplexity.value);
      }),
    );
  });

  it('counts top-1 agreement and both perplexities', () => {
    const acc = new KlDivergenceAccumulator();
    acc.add([0, Math.log(3)], [0, Math.log(3)], 1); // same top
    acc.add([Math.log(3), 0], [0, Math.log(3)], 0); // different top
    const r = acc.result();
    expect(r.tokens).toBe(2);
    expect(r.sameTop.value).toBe(0.5);
    // base: nll ln(4/3) twice; quant: ln(4/3) then ln 4.
    expect(r.base.perplexity.value).toBeCloseTo(4 / 3, 12);
    expect(r.quant.perplexity.value).toBeCloseTo(Math.sqrt((4 / 3) * 4), 12);
    expect(r.pplRatio.value).toBeCloseTo(Math.sqrt(3), 12);
    const kl2 = 0.75 * Math.log(3) + 0.25 * Math.log(1 / 3);
    expect(r.meanKld.value).toBeCloseTo(kl2 / 2, 7);
    expect(r.maxKld).toBeCloseTo(kl2, 6);
    expect(r.medianKld).toBeCloseTo(kl2 / 2, 6);
  });

  it('refuses logits of different vocabularies', () => {
    expect(() => new KlDivergenceAccumulator().add([0, 1], [0, 1, 2], 0)).toThrow(/vocabularies differ/);
  });
});

describe('statistics helpers', () => {
  it('takes medians, percentiles and argmax as llama.cpp does', () => {
    expect(median([1, 2, 3, 10])).toBe(2.5);
    expect(median([1, 2, 9])).toBe(2);
    expect(percentile([0, 10], 0.99)).toBeCloseTo(9.9, 12);
    expect(percentile([1, 2, 3], 1)).toBe(3);
    expect(argmax([1, 5, 5, 2])).toBe(1);
  });
});

describe('perplexityWindows', () => {
  it('cuts back-to-back windows that score their second half', () => {
    expect(perplexityWindows(1100, 512)).toEqual([
      { start: 0, length: 512, first: 256 },
      { start: 512, length: 512, first: 256 },
    ]);
  });

  it('wants two windows of text', () => {
    expect(() => perplexityWindows(1000, 512)).toThrow(/at least 1024 tokens/);
  });
});
