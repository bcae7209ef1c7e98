import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from './stop-strings.js';

/** Feeds `pieces` through a matcher the way the engine does; returns the text out and the match. */
function run(stops: string[], pieces: string[], includeStop = false) {
  const m = new StopStringMatcher(stops, includeStop);
  let out = '';
  for (const piece of pieces) {
    const scan = m.push(piece);
    out += scan.text;
    if (scan.matched !== undefined) return { out, matched: scan.matched };
  }
  return { out: out + m.flush(), matched: undefined };
}

describe('StopStringMatcher', () => {
  it('finds a stop string split over pieces and emits nothing from it on', () => {
    expect(run(['\n\nUser:'], ['Hello', ' there\n', '\nUs', 'er: more'])).toEqual({ out: 'Hello there', matched: '\n\nUser:' });
  });

  it('holds back only text that can still start a stop string', () => {
    const m = new StopStringMatcher(['END'], false);
    expect(m.push('the E').text).toBe('the ');
    expect(m.push('X').text).toBe('EX');
    expect(m.push('EN').text).toBe('');
    expect(m.flush()).toBe('EN');
  });

  it('keeps the stop string when asked to', () => {
    expect(run(['.'], ['One', ' two.', ' three'], true)).toEqual({ out: 'One two.', matched: '.' });
  });

  it('takes the earliest of several stop strings', () => {
    expect(run(['bc', 'ab'], ['xa', 'bc'])).toEqual({ out: 'x', matched: 'ab' });
  });

  it('waits for a longer stop string that starts before a shorter one already matched', () => {
    expect(run(['b\n\na', '\n'], ['b\n', '\na'])).toEqual({ out: '', matched: 'b\n\na' });
    expect(run(['abc', 'b'], ['ab', 'x'])).toEqual({ out: 'a', matched: 'b' });
    expect(run(['abc', 'b'], ['ab'])).toEqual({ out: 'a', matched: undefined });
  });

  it('emits exactly the text before the first stop string, however the text is split', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '\n');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: alphabet, minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
        fc.string({ unit: alphabet, maxLength: 40 }),
        fc.array(fc.nat(40), { maxLength: 8 }),
        (stops, text, cuts) => {
          const points = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
          const pieces: string[] = [];
          let from = 0;
          for (const p of [...points, text.length]) {
            pieces.push(text.slice(from, p));
            from = p;
          }
          const first = Math.min(...stops.map((s) => (text.includes(s) ? text.indexOf(s) : Infinity)));
          const expected = Number.isFinite(first) ? text.slice(0, first) : text;
          expect(run(stops, pieces).out).toBe(expected);
        },
      ),
    );
  });
});
