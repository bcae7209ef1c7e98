import { LlmError } from '@llm/quant';
import type { KernelProfile } from './kernel-profile.js';

/** One kernel kind of a {@link ProfileSummary}. */
export interface KernelKindSummary {
  readonly kind: string;
  readonly dispatchesPerToken: number;
  /** GPU milliseconds per token. */
  readonly msPerToken: number;
  /** Fraction of the profile's GPU time, 0 to 1. */
  readonly share: number;
}

/** A {@link KernelProfile} per token: what {@link formatProfile} prints and `--json` carries. */
export interface ProfileSummary {
  /** Tokens the profiled steps produced (decode: one per step; prefill: the prompt's tokens). */
  readonly tokens: number;
  readonly steps: number;
  readonly dispatches: number;
  readonly dispatchesPerToken: number;
  /** Mean dispatches per step, and the fewest and most. */
  readonly dispatchesPerStep: { readonly mean: number; readonly min: number; readonly max: number };
  /** Sum of the dispatches' GPU times per token. */
  readonly gpuMsPerToken: number;
  /** Host time per token over the whole profile (includes the timestamp passes' own cost). */
  readonly wallMsPerToken: number;
  /** The most GPU time first. */
  readonly kinds: readonly KernelKindSummary[];
}

/** Per-token figures of `profile`, whose steps produced `tokens` tokens. */
export function summarizeProfile(profile: KernelProfile, tokens: number): ProfileSummary {
  if (!Number.isInteger(tokens) || tokens < 1) {
    throw new LlmError('invalid_argument', `a profile summary needs a positive token count, got ${tokens}`);
  }
  const msPerToken = (ns: number) => ns / 1e6 / tokens;
  return {
    tokens,
    steps: profile.steps,
    dispatches: profile.dispatches,
    dispatchesPerToken: profile.dispatches / tokens,
    dispatchesPerStep: {
      mean: profile.steps > 0 ? profile.dispatches / profile.steps : 0,
      min: profile.stepDispatches.min,
      max: profile.stepDispatches.max,
    },
    gpuMsPerToken: msPerToken(profile.gpuNs),
    wallMsPerToken: profile.wallMs / tokens,
    kinds: profile.kinds.map((k) => ({
      kind: k.kind,
      dispatchesPerToken: k.dispatches / tokens,
      msPerToken: msPerToken(k.gpuNs),
      share: profile.gpuNs > 0 ? k.gpuNs / profile.gpuNs : 0,
    })),
  };
}

/**
 * A summary as text: a headline (tokens, steps, dispatches per step, GPU and wall ms per token),
 * then one row per kernel kind (dispatches per token, GPU ms per token, share of the GPU time)
 * and a total row. Ends with a newline.
 */
export function formatProfile(summary: ProfileSummary, title = 'kernel profile'): string {
  const s = summary;
  const perStep = s.dispatchesPerStep;
  const stepText =
    perStep.min === perStep.max
      ? `${perStep.max}`
      : `${num(perStep.mean, 1)} (${perStep.min}-${perStep.max})`;
  const busy = s.wallMsPerToken > 0 ? ` (GPU busy ${pct(s.gpuMsPerToken / s.wallMsPerToken)})` : '';
  const lines = [
    `${title}: ${s.tokens} ${s.tokens === 1 ? 'token' : 'tokens'}, ${s.steps} ${s.steps === 1 ? 'step' : 'steps'}, ` +
      `${stepText} dispatches per step; GPU ${num(s.gpuMsPerToken, 3)} ms/token, wall ${num(s.wallMsPerToken, 3)} ms/token${busy}`,
  ];
  const rows: string[][] = [['kernel', 'dispatches/token', 'ms/token', 'share']];
  for (const k of s.kinds)
    rows.push([k.kind, num(k.dispatchesPerToken, 2), num(k.msPerToken, 3), pct(k.share)]);
  rows.push([
    'total',
    num(s.dispatchesPerToken, 2),
    num(s.gpuMsPerToken, 3),
    pct(s.kinds.length > 0 ? 1 : 0),
  ]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, row] of rows.entries()) {
    const cells = row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)));
    lines.push(`  ${cells.join('  ')}`);
    if (i === 0 || i === rows.length - 2) lines.push(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function num(value: number, digits: number): string {
  return value.toFixed(digits);
}

function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
