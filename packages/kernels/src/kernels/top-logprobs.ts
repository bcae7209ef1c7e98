import { KernelShapeError } from '../runtime/errors.js';
import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { MAX_TOP_LOGPROBS, topLogprobsKernel } from './top-logprobs.wgsl.js';
import { grid1d } from './workgroup-grid.js';

/** Id of the padding pairs past the vocabulary (n > vocab). */
export const NO_TOKEN = 0xffffffff;

export interface TopLogprobsArgs {
  /** f32 [rows, vocab]: the logits the logprobs are of (raw, for vLLM's default). */
  logits: BufferBindingLike;
  /** u32 [rows]: the token whose logprob each row reports (e.g. the sampled one). */
  chosen: BufferBindingLike;
  /** u32 [rows, 1 + n, 2]: see {@link topLogprobs}. */
  out: BufferBindingLike;
  rows: number;
  vocab: number;
  /** Top logprobs per row, 0 to MAX_TOP_LOGPROBS (20). */
  n: number;
}

/**
 * Per row, the log-softmax of the logits in f32 (max-subtracted, logprob = (l - max) -
 * log(sum exp(l - max))), reported as `out` u32 [rows, 1 + n, 2]: pair 0 is (chosen[row], its
 * logprob), pairs 1..n the n most probable tokens as (id, logprob), by logprob descending with
 * ties to the lower id. Logprobs are f32 bits. A chosen id >= vocab gets NaN; with n > vocab the
 * pairs past the vocabulary are (NO_TOKEN, -Infinity). NaN logits are left out of the
 * normalisation and ranked last with a NaN logprob. Decode with {@link readTopLogprobs}.
 */
export function topLogprobs(rec: StepRecorder, a: TopLogprobsArgs): void {
  const name = 'topLogprobs';
  requireInt(name, 'rows', a.rows, 1);
  requireInt(name, 'vocab', a.vocab, 1);
  requireInt(name, 'n', a.n, 0, MAX_TOP_LOGPROBS);
  requireBytes(name, 'logits', a.logits, a.rows * a.vocab * 4);
  requireBytes(name, 'chosen', a.chosen, a.rows * 4);
  requireBytes(name, 'out', a.out, topLogprobsBytes(a.rows, a.n));
  requireDistinct(name, a.out, { logits: a.logits, chosen: a.chosen });
  rec.dispatchKernel(
    kernelSource('top-logprobs', '', topLogprobsKernel),
    { rows: a.rows, vocab: a.vocab, n: a.n },
    { logits: a.logits, chosen: a.chosen, out: a.out },
    grid1d(a.rows, rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}

/** Bytes of topLogprobs' output for `rows` rows and `n` top logprobs each. */
export function topLogprobsBytes(rows: number, n: number): number {
  return rows * (1 + n) * 2 * 4;
}

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** One row of topLogprobs' output: the chosen token's logprob and the top n, most probable first. */
export interface TopLogprobsRow extends TokenLogprob {
  top: TokenLogprob[];
}

/**
 * Decodes topLogprobs' output (read back as u32 words) for `rows` rows of `n`: padding pairs
 * past the vocabulary are left out, so `top` holds min(n, vocab) entries.
 */
export function readTopLogprobs(words: Uint32Array, rows: number, n: number): TopLogprobsRow[] {
  const stride = (1 + n) * 2;
  if (words.length < rows * stride) {
    throw new KernelShapeError(
      'readTopLogprobs',
      `${rows} rows of ${n} top logprobs need ${rows * stride} words, got ${words.length}`,
    );
  }
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  const result: TopLogprobsRow[] = [];
  for (let r = 0; r < rows; r++) {
    const o = r * stride;
    const top: TokenLogprob[] = [];
    for (let t = 1; t <= n; t++) {
      const id = words[o + 2 * t]!;
      if (id !== NO_TOKEN) top.push({ tokenId: id, logprob: floats[o + 2 * t + 1]! });
    }
    result.push({ tokenId: words[o]!, logprob: floats[o + 1]!, top });
  }
  return result;
}
