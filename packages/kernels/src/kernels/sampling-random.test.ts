import { describe, expect, it } from 'vitest';
import { SamplingRandom } from './sampling-random.js';

describe('SamplingRandom', () => {
  it('repeats its stream for a seed and differs between nearby seeds', () => {
    const draw = (seed: number) => {
      const r = new SamplingRandom(seed);
      return Array.from({ length: 8 }, () => r.nextUniform());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('draws uniforms in [0, 1) with the moments and bucket counts of a uniform distribution', () => {
    const r = new SamplingRandom(7);
    const n = 100_000;
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const u = r.nextUniform();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      sumSq += u * u;
      buckets[Math.floor(u * 10)]!++;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(sumSq / n - (sum / n) ** 2).toBeCloseTo(1 / 12, 2);
    // Chi-squared with 9 degrees of freedom: 27.9 is its 0.999 quantile.
    const chi2 = buckets.reduce((acc, c) => acc + (c - n / 10) ** 2 / (n / 10), 0);
    expect(chi2).toBeLessThan(27.9);
  });
});
