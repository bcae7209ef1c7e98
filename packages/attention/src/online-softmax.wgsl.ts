/**
 * WGSL statements for one key of an online softmax: the running max `m` and sum `l` take the
 * score `s`, leaving `alpha` (the factor that rescales the accumulators) and `p` (the key's
 * numerator) as `let`s. One exponential: the larger of m and s gets weight 1, the other
 * exp(-|s - m|); a score far below m (a masked key) gives alpha exactly 1 and p exactly 0.
 */
export function onlineSoftmaxStep(indent: string): string {
  return [
    'let grew = s > m;',
    'let e = exp(-abs(s - m));',
    'let alpha = select(1.0, e, grew);',
    'let p = select(e, 1.0, grew);',
    'l = l * alpha + p;',
    'm = max(m, s);',
  ]
    .map((line) => indent + line)
    .join('\n');
}
