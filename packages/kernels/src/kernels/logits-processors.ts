import type { BufferBindingLike, StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import { logitsProcessorsKernel } from './logits-processors.wgsl.js';
import {
  LOGITS_PROCESSOR_ENTRY_WORDS,
  LOGITS_PROCESSOR_MAX_VOCAB,
  LOGITS_PROCESSOR_ROW_WORDS,
} from './pack-logits-processors.js';
import { ELEMENTWISE_WORKGROUP, grid1d } from './workgroup-grid.js';

export interface LogitsProcessorsArgs {
  /** f32 [rows, vocab], modified in place. */
  logits: BufferBindingLike;
  /** f32 [rows, 2] (`PackedLogitsProcessors.rowParams`). */
  rowParams: BufferBindingLike;
  /** u32 [entryCount, 4] (`PackedLogitsProcessors.entries`); may hold more than entryCount. */
  entries: BufferBindingLike;
  entryCount: number;
  rows: number;
  vocab: number;
}

/**
 * Applies each row's repetition, presence and frequency penalties and logit bias to `logits` in
 * place (semantics in pack-logits-processors.ts and `reference.applyLogitsProcessors`). One
 * invocation per entry: with no entries nothing is recorded, and rows without entries are not
 * touched.
 */
export function logitsProcessors(rec: StepRecorder, a: LogitsProcessorsArgs): void {
  const name = 'logitsProcessors';
  requireInt(name, 'rows', a.rows, 1);
  requireInt(name, 'vocab', a.vocab, 1, LOGITS_PROCESSOR_MAX_VOCAB);
  requireInt(name, 'entryCount', a.entryCount, 0, 0xffffffff);
  requireBytes(name, 'logits', a.logits, a.rows * a.vocab * 4);
  requireBytes(name, 'rowParams', a.rowParams, a.rows * LOGITS_PROCESSOR_ROW_WORDS * 4);
  requireBytes(name, 'entries', a.entries, a.entryCount * LOGITS_PROCESSOR_ENTRY_WORDS * 4);
  requireDistinct(name, a.logits, { rowParams: a.rowParams, entries: a.entries });
  if (a.entryCount === 0) return;
  rec.dispatchKernel(
    kernelSource('logits-processors', '', logitsProcessorsKernel),
    { entries: a.entryCount, rows: a.rows, vocab: a.vocab, no_fuse: 0 },
    { logits: a.logits, row_params: a.rowParams, entries: a.entries },
    grid1d(Math.ceil(a.entryCount / ELEMENTWISE_WORKGROUP), rec.ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}
