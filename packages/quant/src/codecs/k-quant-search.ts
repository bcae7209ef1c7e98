import * as rounding from './float32-rounding.js';

// Bound once: under a transpiling loader (tsx, vitest) an imported binding is read through a
// getter on every use, which made these loops some 40x slower.
const { f, GROUP_MAX_EPS, nearestInt } = rounding;

/*
 * The scale searches of ggml-quants.c that the K-quant reference quantizers call, ported
 * operation for operation in f32 (see float32-rounding.ts): sums run in index order and every
 * product is rounded before it is added, as the C compiles without FMA contraction.
 */

/**
 * make_qx_quants with rmse_type 1 and no importance weights: a symmetric scale for `n` values
 * from `x[at]`, trying 18 scales around -nmax / max and keeping the one that maximises
 * sum(w x l)^2 / sum(w l^2) with w = x^2. Writes levels `l + nmax` (0 .. 2 nmax - 1) to `levels`.
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  at: number,
  levels: Uint8Array,
  levelsAt: number,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[at + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    levels.fill(0, levelsAt, levelsAt + n);
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[at + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
    levels[levelsAt + i] = l + nmax;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  const tenth = f(0.1);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(tenth * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        levels[levelsAt + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * x[at + i]!))));
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_qkx2_quants: an asymmetric fit x ~ scale * l - min with l in 0..nmax (min <= 0 in ggml's
 * sign, returned negated through `minOut[0]`), trying nstep + 1 scales from (rmin + nmax) / range
 * in steps of rdelta and keeping the least weighted squared (or absolute, `useMad`) error.
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  at: number,
  weights: Float32Array,
  levels: Uint8Array,
  levelsAt: number,
  minOut: Float32Array,
  aux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[at]!;
  let max = x[at]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[at]!);
  for (let i = 1; i < n; i++) {
    const xi = x[at + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    levels.fill(0, levelsAt, levelsAt + n);
    minOut[0] = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[at + i]! - min)))));
    levels[levelsAt + i] = l;
    let diff = f(f(f(scale * l) + min) - x[at + i]!);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i]! * diff));
  }
  if (nstep < 1) {
    minOut[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // `min` moves to each better fit, and the next candidate scales span the new range.
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
      aux[i] = l;
      const wl = f(weights[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let error = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * aux[i]!) + thisMin) - x[at + i]!);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        error = f(error + f(weights[i]! * diff));
      }
      if (error < bestError) {
        for (let i = 0; i < n; i++) levels[levelsAt + i] = aux[i]!;
        bestError = error;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  minOut[0] = -min;
  return scale;
}

/**
 * make_q3_quants with do_rmse: a symmetric scale for `n` values, starting from -nmax / max and
 * then moving single levels while that raises sum(w x l)^2 / sum(w l^2), w = x^2, for at most five
 * passes. Writes levels `l + nmax` to `levels` (signed scratch: the search holds negative levels).
 */
export function makeQ3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  at: number,
  levels: Int8Array,
  levelsAt: number,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[at + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    levels.fill(0, levelsAt, levelsAt + n);
    return 0;
  }
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[at + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
    levels[levelsAt + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let pass = 0; pass < 5; pass++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const w = f(xi * xi);
      const li = levels[levelsAt + i]!;
      let slx = f(sumlx - f(f(w * xi) * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        const newL = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(f(xi * sl2) / slx))));
        if (newL !== li) {
          slx = f(slx + f(f(w * xi) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            levels[levelsAt + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) levels[levelsAt + i] = levels[levelsAt + i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}
