import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { SAMPLING_PARAMS_WORDS, sampleKernel } from './sample.wgsl.js';
import { grid1d } from './workgroup-grid.js';

/** Sampling settings of one row. */
export interface SamplingRowParams {
  /** <= 0 means greedy: the token `argmax` picks for the row, NaN and ties included. */
  temperature: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off; 1 = greedy. */
  topK: number;
  /** 0 = off. */
  minP: number;
  /** Uniform random number in [0, 1) drawn by the caller (its seeded RNG). */
  u: number;
}

/** The params buffer contents for {@link sample}: SAMPLING_PARAMS_WORDS u32 words per row. */
export function packSamplingParams(rows: readonly SamplingRowParams[]): Uint32Array {
  const words = new Uint32Array(rows.length * SAMPLING_PARAMS_WORDS);
  const floats = new Float32Array(words.buffer);
  rows.forEach((r, i) => {
    const o = i * SAMPLING_PARAMS_WORDS;
    floats[o] = r.temperature;
    floats[o + 1] = r.topP;
    words[o + 2] = Math.max(0, Math.min(0xffffffff, Math.floor(r.topK)));
    floats[o + 3] = r.minP;
    floats[o + 4] = r.u;
  });
  return words;
}

export interface SampleArgs {
  /** f32 [rows, vocab]. */
  logits: BufferBindingLike;
  /** u32 [rows, SAMPLING_PARAMS_WORDS] from packSamplingParams. */
  params: BufferBindingLike;
  /** u32 [rows]: the sampled token of each row. */
  out: BufferBindingLike;
  rows: number;
  vocab: number;
}

/**
 * Temperature, top-k, min-p and top-p filtering, then inverse-CDF sampling with the caller's
 * uniform u, all on the GPU; semantics in sample.wgsl.ts and `reference.sample`.
 */
export function sample(rec: StepRecorder, a: SampleArgs): void {
  const name = 'sample';
  requireInt(name, 'rows', a.rows, 1);
  requireInt(name, 'vocab', a.vocab, 1);
  requireBytes(name, 'logits', a.logits, a.rows * a.vocab * 4);
  requireBytes(name, 'params', a.params, a.rows * SAMPLING_PARAMS_WORDS * 4);
  requireBytes(name, 'out', a.out, a.rows * 4);
  requireDistinct(name, a.out, { logits: a.logits, params: a.params });
  rec.dispatchKernel(
    kernelSource('sample', '', sampleKernel),
    { rows: a.rows, vocab: a.vocab },
    { logits: a.logits, row_params: a.params, out: a.out },
    grid1d(a.rows, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
