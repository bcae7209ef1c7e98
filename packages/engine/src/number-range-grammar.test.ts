import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { numberRangeEbnf, type NumberBounds } from './number-range-grammar.js';
import { loadXGrammar } from './xgrammar-module.js';

const xg = await loadXGrammar();

async function accepts(expression: string, text: string): Promise<boolean> {
  const grammar = await xg.Grammar.fromEBNF(`root ::= ${expression}`);
  try {
    return await xg.Testings.isGrammarAcceptString(grammar, text);
  } finally {
    grammar.dispose();
  }
}

function inBounds(v: number, b: NumberBounds): boolean {
  return (
    (b.minimum === undefined || v >= b.minimum) &&
    (b.maximum === undefined || v <= b.maximum) &&
    (b.exclusiveMinimum === undefined || v > b.exclusiveMinimum) &&
    (b.exclusiveMaximum === undefined || v < b.exclusiveMaximum)
  );
}

const CASES: NumberBounds[] = [
  { minimum: 0, maximum: 1 },
  { minimum: -50, maximum: 50 },
  { minimum: 0.5, maximum: 2.25 },
  { exclusiveMinimum: 0, exclusiveMaximum: 1 },
  { minimum: -3.75, maximum: -1.5 },
  { minimum: 0.1, maximum: 0.2 },
  { minimum: 99.5, maximum: 1234 },
];

describe('numberRangeEbnf', () => {
  it.each(CASES)('accepts exactly the numbers within %o (six decimals at most, no negative zero)', async (bounds) => {
    const expression = numberRangeEbnf(bounds)!;
    const texts = new Set<string>(['0', '1', '-0.5', '0.5', '1.0', '1.9', '50', '-50', '50.4', '-50.4', '2.25', '2.250001', '0.1', '0.2', '0.15', '0.200001', '-1.5', '-3.75', '-3.76', '1234', '1234.5', '99.5', '99.49', '0.000001']);
    fc.assert(
      fc.property(fc.integer({ min: -5_000_000_000, max: 5_000_000_000 }), fc.integer({ min: 0, max: 6 }), (micro, places) => {
        texts.add((micro / 1e6).toFixed(places));
      }),
      { numRuns: 150, seed: 7 },
    );
    for (const text of texts) {
      const value = Number(text);
      const want = inBounds(value, bounds) && /^-?(0|[1-9][0-9]*)(\.[0-9]{1,6})?$/.test(text) && !(text.startsWith('-') && value === 0);
      expect(await accepts(expression, text), `${text} in ${JSON.stringify(bounds)}`).toBe(want);
    }
  });

  it('gives nothing for bounds that leave no value', () => {
    expect(numberRangeEbnf({ minimum: 2, maximum: 1 })).toBeUndefined();
    expect(numberRangeEbnf({ exclusiveMinimum: 1, exclusiveMaximum: 1.000001 })).toBeUndefined();
  });
});
