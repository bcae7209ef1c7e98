import type { SamplingRowParams } from '../kernels/sample.js';
import { argmax, orderedKey } from './argmax.js';

/** Per-row filter state of {@link sampleRow}, for tests and diagnostics. */
export interface SampleTrace {
  token: number;
  /** Weight e_i of every kept token (0 elsewhere); their sum is `total`. */
  kept: Float64Array;
  total: number;
  /** u * total. */
  target: number;
}

/**
 * One row of `sample` with the GPU kernel's semantics (see sample.wgsl.ts): e_i in f32 as the
 * GPU computes it, sums in f64.
 */
export function sampleRow(logits: Float32Array, p: SamplingRowParams): SampleTrace {
  const vocab = logits.length;
  const topK = Math.max(0, Math.floor(p.topK));
  const kept = new Float64Array(vocab);
  if (p.temperature <= 0 || topK === 1) {
    const token = argmax(logits, 1, vocab)[0]!;
    kept[token] = 1;
    return { token, kept, total: 1, target: 0 };
  }
  let bestKey = 0;
  let best = -1;
  for (let i = 0; i < vocab; i++) {
    const l = logits[i]!;
    if (Number.isNaN(l)) continue;
    const k = orderedKey(l);
    if (best < 0 || k > bestKey) {
      bestKey = k;
      best = i;
    }
  }
  if (best < 0) return { token: 0, kept, total: 0, target: 0 };
  const maxLogit = logits[best]!;
  const minP = Math.min(Math.max(p.minP, 0), 1);
  const t = Math.fround(p.temperature);

  let kThreshold = 0;
  if (topK > 0 && topK < vocab) {
    const keys: number[] = [];
    for (let i = 0; i < vocab; i++) if (!Number.isNaN(logits[i]!)) keys.push(orderedKey(logits[i]!));
    if (keys.length >= topK) {
      keys.sort((a, b) => b - a);
      kThreshold = keys[topK - 1]!;
    }
  }
  const e = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) {
    const l = logits[i]!;
    if (Number.isNaN(l) || orderedKey(l) < kThreshold) continue;
    const v = Math.fround(Math.exp(Math.fround(Math.fround(l - maxLogit) / t)));
    if (v >= minP) e[i] = v;
  }
  let threshold = 0;
  if (p.topP < 1) {
    let z = 0;
    for (let i = 0; i < vocab; i++) z += e[i]!;
    const target = Math.fround(p.topP) * z;
    const sorted = Array.from(e)
      .filter((v) => v > 0)
      .sort((a, b) => b - a);
    let mass = 0;
    for (let i = 0; i < sorted.length;) {
      const v = sorted[i]!;
      while (i < sorted.length && sorted[i] === v) mass += sorted[i++]!;
      threshold = v;
      if (mass >= target) break;
    }
  }
  let total = 0;
  let lastKept = 0;
  for (let i = 0; i < vocab; i++) {
    if (e[i]! > 0 && e[i]! >= threshold) {
      kept[i] = e[i]!;
      total += e[i]!;
      lastKept = i;
    }
  }
  const target = Math.fround(p.u) * total;
  let acc = 0;
  for (let i = 0; i < vocab; i++) {
    acc += kept[i]!;
    if (kept[i]! > 0 && acc > target) return { token: i, kept, total, target };
  }
  return { token: lastKept, kept, total, target };
}

/** `sample` over rows of `vocab` logits, one params entry per row. */
export function sample(
  logits: Float32Array,
  rows: number,
  vocab: number,
  params: readonly SamplingRowParams[],
  out: Uint32Array = new Uint32Array(rows),
): Uint32Array {
  for (let r = 0; r < rows; r++)
    out[r] = sampleRow(logits.subarray(r * vocab, (r + 1) * vocab), params[r]!).token;
  return out;
}
