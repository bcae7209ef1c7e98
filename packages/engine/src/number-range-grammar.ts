/**
 * EBNF for JSON numbers inside bounds. XGrammar's JSON Schema conversion (0.1.27) writes the
 * bounds of a `number` for its integer part only (`maximum: 1` lets `1.9` through, `minimum: -50`
 * lets `-50.4` through) and ignores exclusive bounds, so bounded numbers are written here and
 * spliced into its grammar instead. Numbers come out as an integer part and at most six fraction
 * digits, without exponent: values are handled as integers of millionths, exactly.
 */

// Six fraction digits: XGrammar's own limit for numbers, and what a decode budget can afford.
const FRACTION_DIGITS = 6;
const SCALE = 10 ** FRACTION_DIGITS;
// Larger bounds (or a missing one) are clamped: the grammar stays small, every value it allows is valid.
const LIMIT = 1e9;

export interface NumberBounds {
  readonly minimum?: number | undefined;
  readonly maximum?: number | undefined;
  readonly exclusiveMinimum?: number | undefined;
  readonly exclusiveMaximum?: number | undefined;
}

/** The EBNF expression of the numbers within `bounds`, or undefined when none fits six fraction digits. */
export function numberRangeEbnf(bounds: NumberBounds): string | undefined {
  // In millionths, exclusive bounds moved one millionth inwards: the same set at six digits.
  let lo = -LIMIT * SCALE;
  let hi = LIMIT * SCALE;
  if (bounds.minimum !== undefined) lo = Math.max(lo, Math.ceil(bounds.minimum * SCALE - 1e-6));
  if (bounds.exclusiveMinimum !== undefined) lo = Math.max(lo, Math.floor(bounds.exclusiveMinimum * SCALE + 1e-6) + 1);
  if (bounds.maximum !== undefined) hi = Math.min(hi, Math.floor(bounds.maximum * SCALE + 1e-6));
  if (bounds.exclusiveMaximum !== undefined) hi = Math.min(hi, Math.ceil(bounds.exclusiveMaximum * SCALE - 1e-6) - 1);
  if (lo > hi) return undefined;
  const alternatives: string[] = [];
  if (hi >= 0) alternatives.push(...magnitudes(Math.max(lo, 0), hi));
  // Negative values by magnitude: -hi'..-lo with zero itself left to the non-negative side.
  if (lo < 0) {
    const m = magnitudes(Math.max(-hi, 1), -lo, true);
    if (m.length > 0) alternatives.push(`"-" ${group(m)}`);
  }
  return alternatives.length === 0 ? undefined : group(alternatives);
}

/** Non-negative values in [lo, hi] millionths as `I` or `I.f`; `positive` drops a bare zero (`-0`). */
function magnitudes(lo: number, hi: number, positive = false): string[] {
  const ia = Math.floor(lo / SCALE);
  const ib = Math.floor(hi / SCALE);
  const fa = digits(lo % SCALE, FRACTION_DIGITS);
  const fb = digits(hi % SCALE, FRACTION_DIGITS);
  const out: string[] = [];
  const zeros = '0'.repeat(FRACTION_DIGITS);
  const nines = '9'.repeat(FRACTION_DIGITS);
  const withFraction = (int: string, fraction: string | undefined) => {
    if (fraction !== undefined) out.push(`${int} "." ${fraction}`);
  };
  if (ia === ib) {
    if (fa === zeros && !(positive && ia === 0)) out.push(literal(String(ia)));
    withFraction(literal(String(ia)), fractionRange(fa, fb));
    return out;
  }
  // Bare integers ia (only when lo is whole) through ib.
  const firstWhole = fa === zeros ? ia : ia + 1;
  const whole = uintRange(positive ? Math.max(firstWhole, 1) : firstWhole, ib);
  if (whole !== undefined) out.push(whole);
  withFraction(literal(String(ia)), fractionRange(fa, nines));
  const inner = uintRange(ia + 1, ib - 1);
  if (inner !== undefined) out.push(`${inner} "." [0-9]{1,${FRACTION_DIGITS}}`);
  withFraction(literal(String(ib)), fractionRange(zeros, fb));
  return out;
}

/**
 * Fraction digit strings of 1..6 digits whose value, padded with zeros to six digits, lies in
 * [lo, hi] (both six-digit strings).
 */
export function fractionRange(lo: string, hi: string, i = 0, tightLo = true, tightHi = true): string | undefined {
  const a = tightLo ? Number(lo[i]) : 0;
  const b = tightHi ? Number(hi[i]) : 9;
  if (a > b) return undefined;
  const rest = FRACTION_DIGITS - 1 - i;
  const alternatives: string[] = [];
  const restOfLoIsZero = (from: number) => /^0*$/.test(lo.slice(from));
  const m1 = tightLo ? a + 1 : a;
  const m2 = tightHi ? b - 1 : b;
  if (m1 <= m2) alternatives.push(rest > 0 ? `${digitClass(m1, m2)} [0-9]{0,${rest}}` : digitClass(m1, m2));
  const edge = (d: number, lowEdge: boolean, highEdge: boolean) => {
    // Ending here pads with zeros: below a tight lower bound unless the bound's rest is zero too.
    if (!lowEdge || restOfLoIsZero(i + 1)) alternatives.push(literal(String(d)));
    if (rest > 0) {
      const next = fractionRange(lo, hi, i + 1, lowEdge, highEdge);
      if (next !== undefined) alternatives.push(`${literal(String(d))} ${next}`);
    }
  };
  if (tightLo && tightHi && a === b) edge(a, true, true);
  else {
    if (tightLo) edge(a, true, false);
    if (tightHi) edge(b, false, true);
  }
  return alternatives.length === 0 ? undefined : group(alternatives);
}

/** Decimal strings (no leading zeros) of the integers in [lo, hi], both >= 0. */
export function uintRange(lo: number, hi: number): string | undefined {
  if (lo > hi) return undefined;
  const alternatives: string[] = [];
  const lenLo = String(lo).length;
  const lenHi = String(hi).length;
  for (let len = lenLo; len <= lenHi; len++) {
    const from = len === lenLo ? String(lo) : `1${'0'.repeat(len - 1)}`;
    const to = len === lenHi ? String(hi) : '9'.repeat(len);
    const part = sameLengthRange(from, to, 0, true, true);
    if (part !== undefined) alternatives.push(part);
  }
  return alternatives.length === 0 ? undefined : group(alternatives);
}

function sameLengthRange(lo: string, hi: string, i: number, tightLo: boolean, tightHi: boolean): string | undefined {
  const a = tightLo ? Number(lo[i]) : 0;
  const b = tightHi ? Number(hi[i]) : 9;
  if (a > b) return undefined;
  const rest = lo.length - 1 - i;
  const alternatives: string[] = [];
  const m1 = tightLo ? a + 1 : a;
  const m2 = tightHi ? b - 1 : b;
  if (m1 <= m2) alternatives.push(rest > 0 ? `${digitClass(m1, m2)} [0-9]{${rest}}` : digitClass(m1, m2));
  const edge = (d: number, lowEdge: boolean, highEdge: boolean) => {
    if (rest === 0) alternatives.push(literal(String(d)));
    else {
      const next = sameLengthRange(lo, hi, i + 1, lowEdge, highEdge);
      if (next !== undefined) alternatives.push(`${literal(String(d))} ${next}`);
    }
  };
  if (tightLo && tightHi && a === b) edge(a, true, true);
  else {
    if (tightLo) edge(a, true, false);
    if (tightHi) edge(b, false, true);
  }
  return alternatives.length === 0 ? undefined : group(alternatives);
}

function digits(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function digitClass(from: number, to: number): string {
  return from === to ? literal(String(from)) : `[${from}-${to}]`;
}

function literal(text: string): string {
  return JSON.stringify(text);
}

function group(alternatives: readonly string[]): string {
  return alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join(' | ')})`;
}
