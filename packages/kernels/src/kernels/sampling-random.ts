/**
 * The seeded stream of uniforms that sampling consumes: one `u` in [0, 1) per sampled token, which
 * the sample kernel (and its CPU reference) turns into a token by inverting the filtered
 * distribution's CDF. Mulberry32 (Tommy Ettinger): one 32-bit word of state, so a request's draws
 * are cheap and reproducible from its seed in Node and in a browser alike; one draw per token needs
 * no more than that.
 */
export class SamplingRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next uniform in [0, 1), a multiple of 2^-32. */
  nextUniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }
}
