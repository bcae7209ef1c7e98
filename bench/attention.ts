/**
 * Attention benchmark: paged decode bandwidth against the adapter's measured read bandwidth (for
 * TinyLlama's GQA heads and again for MHA heads), and prefill (the adapter's default kernel:
 * flash on GPUs, rows on CPU adapters) against the naive paged attention kernel. Writes bench/results/attention.json and prints a table; progress goes to
 * stderr.
 *
 *   pnpm bench attention [--quick] [--only=decode|prefill] [--kv-dtype=f32|f16]
 *
 * With --kv-dtype=f16 the pool is f16 (bytes counted as stored) and the results go to
 * bench/results/attention-kv16.json.
 */
import { attention } from '@llm/attention';
import { buildAttentionCase, uploadAttentionCase, type HostAttentionCase } from '@llm/attention/testing';
import { GpuContext, pagedAttentionNaive, type PagedAttentionBatch, type StepRecorder } from '@llm/kernels';
import { dtypeBytes, type GpuDtype } from '@llm/quant';
import { progress } from './console-report.js';
import { writeResult } from './result-writer.js';
import { adapterMethod, measureAdapter, measureRead, type AdapterRead } from './roofline.js';

// TinyLlama-1.1B's attention: 32 query heads sharing 4 KV heads (GQA 8:1), head dim 64. At batch
// 32 x context 4096 its per-layer K pool is exactly 128 MiB, lavapipe's largest storage binding.
const SHAPE = { numHeads: 32, numKvHeads: 4, headDim: 64, blockSize: 16 } as const;
// The same with a KV head per query head (MHA): each K/V float loaded feeds one head's
// multiply-adds instead of eight, which shows what the head ratio costs on a compute-bound adapter.
const MHA_SHAPE = { numHeads: 32, numKvHeads: 32, headDim: 64, blockSize: 16 } as const;
type DecodeShape = typeof SHAPE | typeof MHA_SHAPE;
const DECODE_BATCHES = [1, 4, 16, 32];
const CONTEXTS = [512, 1024, 2048, 4096];
const DECODE_TARGET_FRACTION = 0.5;
// Timed runs per decode point, fastest kept (as the read bandwidth is the best of its runs).
const DECODE_RUNS = 7;

export interface DecodePoint {
  batch: number;
  context: number;
  ms: number;
  gbPerS: number;
  fractionOfMeasuredBandwidth: number;
  splits: number;
  /** Copies of the pool the timed iterations rotate through (see ROTATION_BYTES). */
  poolCopies: number;
}

export interface PrefillPoint {
  context: number;
  ms: number;
  naiveMs: number;
  /** 'full', or how the naive time was extrapolated from a run over the last queries. */
  naiveMeasured: string;
  speedupVsNaive: number;
  peakScratchBytes: number;
}

export interface AttentionBenchResult {
  adapter: string;
  shape: typeof SHAPE & { kvDtype: GpuDtype; note: string };
  mhaShape: typeof MHA_SHAPE & { note: string };
  decodeKernel: { usesSubgroups: boolean };
  timing: string;
  measuredCopyGBps: number;
  measuredReadGBps: number;
  readKernel: string;
  readKernels: Record<string, number>;
  /** Read bandwidth measured before the decode points and after each batch; measuredReadGBps is the highest. */
  readSamplesGBps: number[];
  readMethod: string;
  decode: DecodePoint[];
  /** The decode points again for MHA_SHAPE (those whose K pool fits one storage binding). */
  decodeMha: DecodePoint[];
  prefill: PrefillPoint[];
  targets: {
    decodeBestFraction: number;
    decodeReachesHalfOfMeasuredRead: boolean;
    decodeMhaBestFraction: number;
    prefillBeatsNaiveFrom1024: boolean;
    prefillNeverAllocatesScoreMatrix: boolean;
  };
}

const log = progress;

/**
 * Wall time per repetition: `iters` repetitions recorded into one step, after `warmup` unmeasured
 * steps; the fastest of `runs` such steps (the others lost time to whatever else the machine ran).
 */
async function timeSteps(
  ctx: GpuContext,
  record: (rec: StepRecorder) => void,
  iters: number,
  warmup = 1,
  runs = 1,
): Promise<number> {
  for (let i = 0; i < warmup; i++) {
    const rec = ctx.recorder('warm-up');
    record(rec);
    rec.submit();
    await ctx.sync();
  }
  let best = Infinity;
  for (let run = 0; run < runs; run++) {
    const rec = ctx.recorder('timed');
    for (let i = 0; i < iters; i++) record(rec);
    const t0 = performance.now();
    rec.submit();
    await ctx.sync();
    best = Math.min(best, (performance.now() - t0) / iters);
  }
  return best;
}

function itersFor(bytesOrWork: number, budget: number): number {
  return Math.max(1, Math.min(20, Math.round(budget / bytesOrWork)));
}

// ---- bandwidth references ----------------------------------------------------------------------

/** The roofline's read measurement (the best of its simple read kernels), logged. */
async function measureReadLogged(ctx: GpuContext): Promise<AdapterRead> {
  const read = await measureRead(ctx.device);
  log(`read ${read.readGBps.toFixed(2)} GB/s (${read.readKernel})`);
  return read;
}

// ---- decode ------------------------------------------------------------------------------------

// Decode iterations rotate through copies of the pool until they cover this many bytes, as many
// as the read kernels stream: a small pool read again and again would be served from the
// last-level cache, which the read bandwidth it is compared with never is.
const ROTATION_BYTES = 128 << 20;
const MAX_POOL_COPIES = 128;

async function benchDecode(
  ctx: GpuContext,
  shape: DecodeShape,
  quick: boolean,
  kvDtype: GpuDtype,
  afterBatch: () => Promise<void>,
) {
  const points: DecodePoint[] = [];
  let usesSubgroups = false;
  const batches = quick ? [1, 32] : DECODE_BATCHES;
  const contexts = quick ? [512, 4096] : CONTEXTS;
  const label = `decode ${shape.numHeads}/${shape.numKvHeads} heads`;
  for (const batch of batches) {
    for (const context of contexts) {
      const kvBytes = 2 * batch * context * shape.numKvHeads * shape.headDim * dtypeBytes(kvDtype);
      const qoBytes = 2 * batch * shape.numHeads * shape.headDim * 4;
      if (kvBytes / 2 > ctx.limits.maxStorageBufferBindingSize) {
        log(`${label} batch ${batch} context ${context}: K pool exceeds one storage binding, left out`);
        continue;
      }
      const copies = Math.max(1, Math.min(MAX_POOL_COPIES, Math.ceil(ROTATION_BYTES / kvBytes)));
      log(
        `${label} batch ${batch} context ${context}: building ${copies} pool cop${copies > 1 ? 'ies' : 'y'}`,
      );
      // One pool holding every copy's blocks (shuffled together); copy c is sequences
      // c * batch .. (c + 1) * batch, with a block table of its own.
      const host = buildAttentionCase(
        {
          ...shape,
          seqs: Array.from({ length: batch * copies }, () => ({ queryLen: 1, contextLen: context })),
        },
        Math.random,
      );
      const g = uploadAttentionCase(ctx, host, { newTokensWritten: true, kvDtype });
      const tableLen = batch * host.maxBlocksPerSeq;
      const shared = {
        queryStarts: ctx.upload(
          Uint32Array.from({ length: batch + 1 }, (_, i) => i),
          'query starts',
        ),
        contextLens: ctx.upload(new Uint32Array(batch).fill(context), 'context lens'),
        tokenSeqIds: ctx.upload(
          Uint32Array.from({ length: batch }, (_, i) => i),
          'token seq ids',
        ),
      };
      const tables = Array.from({ length: copies }, (_, c) =>
        ctx.upload(host.blockTables.subarray(c * tableLen, (c + 1) * tableLen), `block tables ${c}`),
      );
      const pools: PagedAttentionBatch[] = tables.map((blockTables) => ({
        ...g.batch,
        ...shared,
        blockTables,
        numTokens: batch,
        numSeqs: batch,
        maxContextLen: context,
      }));
      let next = 0;
      let splits = 1;
      const ms = await timeSteps(
        ctx,
        (rec) => {
          const info = attention(rec, pools[next++ % copies]!, { mode: 'decode' });
          splits = info.splits;
          usesSubgroups = info.usesSubgroups;
        },
        Math.max(copies, itersFor(kvBytes, quick ? 32 << 20 : 128 << 20)),
        1,
        DECODE_RUNS,
      );
      const gbPerS = (kvBytes + qoBytes) / (ms * 1e6);
      const point = {
        batch,
        context,
        ms,
        gbPerS,
        // Set once the read bandwidth is final.
        fractionOfMeasuredBandwidth: 0,
        splits,
        poolCopies: copies,
      };
      points.push(point);
      log(
        `${label} batch ${batch} context ${context}: ${ms.toFixed(2)} ms, ${gbPerS.toFixed(2)} GB/s, ${splits} splits`,
      );
      for (const t of tables) t.destroy();
      for (const x of Object.values(shared)) x.destroy();
      g.destroy();
    }
    await afterBatch();
  }
  return { points, usesSubgroups };
}

// The naive kernel needs minutes for a 4096-token prefill on lavapipe. Above this context it runs
// over the last NAIVE_SAMPLE_QUERIES queries only (same pool, same block table) and its time is
// scaled by causal work (sum over queries of keys attended): its cost per (query, key) is constant.
const NAIVE_FULL_MAX_CONTEXT = 1024;
const NAIVE_SAMPLE_QUERIES = 128;

async function timeNaive(ctx: GpuContext, host: HostAttentionCase, b: PagedAttentionBatch, context: number) {
  if (context <= NAIVE_FULL_MAX_CONTEXT) {
    return { ms: await timeSteps(ctx, (rec) => pagedAttentionNaive(rec, b), 1, 0), measured: 'full' };
  }
  const n = NAIVE_SAMPLE_QUERIES;
  const rowLen = SHAPE.numHeads * SHAPE.headDim;
  const q = ctx.upload(host.q.subarray((context - n) * rowLen), 'naive sample q');
  const out = ctx.createBuffer(n * rowLen * 4, 'naive sample out');
  const queryStarts = ctx.upload(new Uint32Array([0, n]), 'naive sample query starts');
  const tokenSeqIds = ctx.upload(new Uint32Array(n), 'naive sample seq ids');
  const sample: PagedAttentionBatch = { ...b, q, out, queryStarts, tokenSeqIds, numTokens: n };
  const sampleMs = await timeSteps(ctx, (rec) => pagedAttentionNaive(rec, sample), 1, 0);
  for (const x of [q, out, queryStarts, tokenSeqIds]) x.destroy();
  const fullWork = (context * (context + 1)) / 2;
  const sampleWork = n * context - (n * (n - 1)) / 2;
  return {
    ms: (sampleMs * fullWork) / sampleWork,
    measured: `last ${n} queries (${sampleMs.toFixed(1)} ms), scaled by causal work x${(fullWork / sampleWork).toFixed(2)}`,
  };
}

// ---- prefill -----------------------------------------------------------------------------------

async function benchPrefill(ctx: GpuContext, quick: boolean, kvDtype: GpuDtype) {
  const points: PrefillPoint[] = [];
  const contexts = quick ? [512, 1024] : CONTEXTS;
  // Compile both pipelines on a small batch so the big runs time only the kernels.
  const small = buildAttentionCase({ ...SHAPE, seqs: [{ queryLen: 8, contextLen: 8 }] }, Math.random);
  const gs = uploadAttentionCase(ctx, small, { newTokensWritten: true, kvDtype });
  await timeSteps(
    ctx,
    (rec) => (attention(rec, gs.batch, { mode: 'prefill' }), pagedAttentionNaive(rec, gs.batch)),
    1,
    0,
  );
  gs.destroy();
  for (const context of contexts) {
    const host = buildAttentionCase(
      { ...SHAPE, seqs: [{ queryLen: context, contextLen: context }] },
      Math.random,
    );
    const g = uploadAttentionCase(ctx, host, { newTokensWritten: true, kvDtype });
    // Causal multiply-adds: about context^2 / 2 per head, for Q K and for P V.
    const work = context * context * SHAPE.numHeads;
    let scratch = 0;
    const ms = await timeSteps(
      ctx,
      (rec) => {
        scratch = Math.max(scratch, attention(rec, g.batch, { mode: 'prefill' }).scratchBytes);
      },
      // About 3 runs at context 512, one from 1024 on (a 4096 prefill takes tens of seconds here).
      itersFor(work, 3 * 512 * 512 * SHAPE.numHeads),
      0,
    );
    const naive = await timeNaive(ctx, host, g.batch, context);
    const point = {
      context,
      ms,
      naiveMs: naive.ms,
      naiveMeasured: naive.measured,
      speedupVsNaive: naive.ms / ms,
      peakScratchBytes: scratch,
    };
    points.push(point);
    log(
      `prefill context ${context}: ${ms.toFixed(1)} ms, naive ${naive.ms.toFixed(1)} ms (${naive.measured}), ${point.speedupVsNaive.toFixed(2)}x`,
    );
    g.destroy();
  }
  return points;
}

function decodeRows(points: DecodePoint[]): string[] {
  return [
    'decode  batch  context        ms     GB/s  of read  splits',
    ...points.map(
      (p) =>
        `        ${String(p.batch).padStart(5)}  ${String(p.context).padStart(7)}  ${p.ms.toFixed(2).padStart(8)}  ${p.gbPerS.toFixed(2).padStart(7)}  ${(100 * p.fractionOfMeasuredBandwidth).toFixed(0).padStart(6)}%  ${String(p.splits).padStart(6)}`,
    ),
  ];
}

function table(result: AttentionBenchResult): string {
  const lines = [
    `adapter: ${result.adapter}`,
    `shape: ${result.shape.note}`,
    `measured copy ${result.measuredCopyGBps.toFixed(2)} GB/s, measured read ${result.measuredReadGBps.toFixed(2)} GB/s`,
    '',
    ...decodeRows(result.decode),
    '',
    `MHA shape: ${result.mhaShape.note}`,
    ...decodeRows(result.decodeMha),
    '',
    'prefill  context        ms   naive ms  speedup  scratch bytes  naive measured',
    ...result.prefill.map(
      (p) =>
        `         ${String(p.context).padStart(7)}  ${p.ms.toFixed(1).padStart(8)}  ${p.naiveMs.toFixed(1).padStart(9)}  ${p.speedupVsNaive.toFixed(2).padStart(6)}x  ${String(p.peakScratchBytes).padStart(13)}  ${p.naiveMeasured}`,
    ),
    '',
    `targets: ${JSON.stringify(result.targets)}`,
  ];
  return lines.join('\n');
}

export async function main(argv: readonly string[]): Promise<AttentionBenchResult> {
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const kvArg = argv.find((a) => a.startsWith('--kv-dtype='))?.slice('--kv-dtype='.length) ?? 'f32';
  if (kvArg !== 'f32' && kvArg !== 'f16') throw new Error(`--kv-dtype must be f32 or f16, got '${kvArg}'`);
  const kvDtype: GpuDtype = kvArg;
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const ctx = await GpuContext.create();
  try {
    log(`adapter: ${ctx.adapterName}`);
    const roofline = await measureAdapter(ctx.device);
    log(
      `copy ${roofline.copyGBps.toFixed(2)} GB/s (read + written), read ${roofline.readGBps.toFixed(2)} GB/s (${roofline.readKernel})`,
    );
    // The machine's speed drifts during a run: the read bandwidth is measured again after each
    // batch's decode points and the highest kept, so a slow phase during one measurement cannot
    // inflate the fractions.
    const reads: AdapterRead[] = [roofline];
    const sweep = async (shape: DecodeShape) =>
      only === 'prefill'
        ? { points: [], usesSubgroups: false }
        : await benchDecode(ctx, shape, quick, kvDtype, async () => {
            reads.push(await measureReadLogged(ctx));
          });
    const decode = await sweep(SHAPE);
    const decodeMha = await sweep(MHA_SHAPE);
    const read = reads.reduce((a, b) => (b.readGBps > a.readGBps ? b : a));
    for (const p of [...decode.points, ...decodeMha.points]) {
      p.fractionOfMeasuredBandwidth = p.gbPerS / read.readGBps;
    }
    const prefill = only === 'decode' ? [] : await benchPrefill(ctx, quick, kvDtype);
    const best = (points: DecodePoint[]) => Math.max(0, ...points.map((p) => p.fractionOfMeasuredBandwidth));
    const bestFraction = best(decode.points);
    const result: AttentionBenchResult = {
      adapter: ctx.adapterName,
      shape: {
        ...SHAPE,
        kvDtype,
        note: `${SHAPE.numHeads} query heads, ${SHAPE.numKvHeads} KV heads, head dim ${SHAPE.headDim}, block size ${SHAPE.blockSize} (TinyLlama-1.1B), ${kvDtype} KV pool, f32 compute; decode: one query token per sequence, every sequence at the given context; prefill: one sequence, the whole context as new tokens`,
      },
      mhaShape: {
        ...MHA_SHAPE,
        note: `${MHA_SHAPE.numHeads} query heads, ${MHA_SHAPE.numKvHeads} KV heads (MHA), head dim ${MHA_SHAPE.headDim}, block size ${MHA_SHAPE.blockSize}, the same decode points except those whose K pool exceeds one storage binding (${ctx.limits.maxStorageBufferBindingSize} bytes here); decode reads each K/V float for one query head instead of eight, so its arithmetic per byte is an eighth of the GQA shape's`,
      },
      decodeKernel: { usesSubgroups: decode.usesSubgroups },
      timing: `wall time per iteration of several iterations recorded into one submit, waiting on queue.onSubmittedWorkDone, after a warm-up; decode: fastest of ${DECODE_RUNS} such submits; prefill: one`,
      measuredCopyGBps: roofline.copyGBps,
      measuredReadGBps: read.readGBps,
      readKernel: read.readKernel,
      readKernels: read.readKernels,
      readSamplesGBps: reads.map((r) => r.readGBps),
      readMethod: adapterMethod,
      decode: decode.points,
      decodeMha: decodeMha.points,
      prefill,
      targets: {
        decodeBestFraction: bestFraction,
        decodeReachesHalfOfMeasuredRead: bestFraction >= DECODE_TARGET_FRACTION,
        decodeMhaBestFraction: best(decodeMha.points),
        prefillBeatsNaiveFrom1024: prefill
          .filter((p) => p.context >= 1024)
          .every((p) => p.speedupVsNaive > 1),
        prefillNeverAllocatesScoreMatrix: prefill.every(
          (p) => p.peakScratchBytes < p.context * p.context * 4,
        ),
      },
    };
    const out = await writeResult(kvDtype === 'f32' ? 'attention' : 'attention-kv16', { ...result });
    log(`wrote ${out}`);
    process.stdout.write(`${table(result)}\n`);
    return result;
  } finally {
    ctx.destroy();
  }
}
