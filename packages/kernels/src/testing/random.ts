/**
 * Deterministic PRNG for tests (mulberry32): same seed, same sequence, so a failure printed with
 * its seed can be replayed.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform floats in [lo, hi). */
export function randomFloats(rand: () => number, length: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** ||actual - expected|| / ||expected|| over all elements; NaN anywhere gives NaN. */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new RangeError(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i]! - expected[i]!;
    num += d * d;
    den += expected[i]! * expected[i]!;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** A Float32Array of NaN: kernel outputs start this way so unwritten elements show. */
export function poisonF32(length: number): Float32Array {
  return new Float32Array(length).fill(Number.NaN);
}

/** A Uint32Array of 0xFFFFFFFF, the u32 counterpart of {@link poisonF32}. */
export function poisonU32(length: number): Uint32Array {
  return new Uint32Array(length).fill(0xffffffff);
}
