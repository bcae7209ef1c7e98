/**
 * W8A8 in the runner: prefill and decode speed of the `w8a8` runner option (int8 weights and
 * activations, SmoothQuant factors from a calibration pass) against the same model's float path,
 * and how far its logits move from the float model's. Writes bench/results/w8a8.json and prints
 * a table; progress on stderr.
 *
 *   pnpm bench w8a8 [--runs N] [--prefill-tokens N] [--with-1b]
 */
import { GpuContext } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { GpuModelRunner, GREEDY, type SequenceChunk } from '@llm/model';
import { openModel } from '@llm/model/node';
import { printTable, progress } from './console-report.js';
import { promptIds } from './decode-engine.js';
import { DECODE_MODELS, ensureModelFile, type DecodeModel } from './decode-models.js';
import { writeResult } from './result-writer.js';

const usage = `pnpm bench w8a8 [options]

  --runs N            timed runs of each figure, the two paths in turn (default 3)
  --prefill-tokens N  prompt length of the prefill (default 512)
  --with-1b           also the 1.1B shape (F16; its CPU calibration pass takes minutes)
  --help              this text
`;

// Calibration: two sequences of this many tokens (the model is random, so are they); fewer for
// the 1.1B shape, whose CPU pass costs ten times as much per token.
const calibrationTokens = (m: DecodeModel) => (m.preset === 'llama1b' ? 32 : 128);
const DECODE_STEPS = 8;

interface Options {
  runs: number;
  prefillTokens: number;
  with1b: boolean;
}

function parseOptions(args: readonly string[]): Options | undefined {
  const o: Options = { runs: 3, prefillTokens: 512, with1b: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const int = (name: string) => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
      return v;
    };
    if (a === '--help') return undefined;
    else if (a === '--runs') o.runs = int('runs');
    else if (a === '--prefill-tokens') o.prefillTokens = int('prefill-tokens');
    else if (a === '--with-1b') o.with1b = true;
    else throw new Error(`unknown option ${a}\n${usage}`);
  }
  return o;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function chunk(ids: readonly number[], startPos = 0): SequenceChunk {
  return { tokens: [...ids], startPos, blockTable: Array.from({ length: Math.ceil((startPos + ids.length) / 16) }, (_, i) => i) };
}

/** ms of a prefill of `prompt` (its last position sampled) and per decode step after it. */
async function time(runner: GpuModelRunner, prompt: readonly number[]) {
  const t0 = performance.now();
  let { tokens } = await runner.step([chunk(prompt)], [{ chunk: 0, params: GREEDY, u: 0 }]);
  const prefillMs = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < DECODE_STEPS; i++) {
    const pos = prompt.length + i;
    ({ tokens } = await runner.step(
      [{ tokens: [tokens[0]!], startPos: pos, blockTable: chunk([], pos + 1).blockTable, prefill: false }],
      [{ chunk: 0, params: GREEDY, u: 0 }],
    ));
  }
  return { prefillMs, decodeMs: (performance.now() - t1) / DECODE_STEPS };
}

/** The W8A8 logits against the float model's over every prompt position. */
function agreement(want: Float32Array, got: Float32Array, vocab: number) {
  const rows = want.length / vocab;
  let top1 = 0;
  let kld = 0;
  let num = 0;
  let den = 0;
  for (let r = 0; r < rows; r++) {
    const a = want.subarray(r * vocab, (r + 1) * vocab);
    const b = got.subarray(r * vocab, (r + 1) * vocab);
    const logSoftmax = (x: Float32Array) => {
      let max = -Infinity;
      for (const v of x) max = Math.max(max, v);
      let sum = 0;
      for (const v of x) sum += Math.exp(v - max);
      const lse = max + Math.log(sum);
      return Float64Array.from(x, (v) => v - lse);
    };
    const la = logSoftmax(a);
    const lb = logSoftmax(b);
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < vocab; i++) {
      kld += Math.exp(la[i]!) * (la[i]! - lb[i]!);
      if (a[i]! > a[ia]!) ia = i;
      if (b[i]! > b[ib]!) ib = i;
      num += (a[i]! - b[i]!) ** 2;
      den += a[i]! ** 2;
    }
    if (ia === ib) top1++;
  }
  return { meanKld: kld / rows, top1Agreement: top1 / rows, logitsRelativeL2: Math.sqrt(num / den) };
}

async function measure(ctx: GpuContext, m: DecodeModel, options: Options) {
  const path = await ensureModelFile(m);
  const model = await openModel(path);
  const vocab = model.source.config.vocabSize;
  const runnerOptions = { maxSeqs: 1, maxStepTokens: options.prefillTokens, maxModelLen: options.prefillTokens + DECODE_STEPS + 1 };
  try {
    progress(`${m.name}: loading the float runner`);
    const float = await GpuModelRunner.load(ctx, model.source, runnerOptions);
    const perSequence = calibrationTokens(m);
    progress(`${m.name}: loading the w8a8 runner (calibration: 2 x ${perSequence} tokens through the model on the CPU)`);
    const loadStart = performance.now();
    const calibration = [promptIds(perSequence, 11, vocab), promptIds(perSequence, 12, vocab)];
    const w8a8 = await GpuModelRunner.load(ctx, model.source, { ...runnerOptions, w8a8: { calibration } });
    const w8a8LoadSeconds = (performance.now() - loadStart) / 1000;
    try {
      const prompt = promptIds(options.prefillTokens, 5, vocab);
      const runners = { float, w8a8 } as const;
      // Untimed: each path's first prefill and decode (pipelines of these token counts).
      for (const r of Object.values(runners)) await time(r, prompt);
      const samples = { float: [] as { prefillMs: number; decodeMs: number }[], w8a8: [] as { prefillMs: number; decodeMs: number }[] };
      for (let run = 0; run < options.runs; run++) {
        for (const [name, r] of Object.entries(runners) as [keyof typeof runners, GpuModelRunner][]) {
          const t = await time(r, prompt);
          samples[name].push(t);
          progress(`${m.name} run ${run + 1}/${options.runs} ${name}: prefill ${t.prefillMs.toFixed(0)} ms, decode ${t.decodeMs.toFixed(1)} ms/token`);
        }
      }
      const figures = (s: { prefillMs: number; decodeMs: number }[]) => ({
        prefillTokensPerSecond: (options.prefillTokens * 1000) / median(s.map((x) => x.prefillMs)),
        decodeTokensPerSecond: 1000 / median(s.map((x) => x.decodeMs)),
        prefillMsRuns: s.map((x) => x.prefillMs),
        decodeMsRuns: s.map((x) => x.decodeMs),
      });
      const f = figures(samples.float);
      const q = figures(samples.w8a8);
      const rows = prompt.map((_, i) => i);
      const quality = agreement(await float.logits([chunk(prompt)], { rows }), await w8a8.logits([chunk(prompt)], { rows }), vocab);
      return {
        model: m.name,
        dtype: m.dtype,
        prefillTokens: options.prefillTokens,
        float: f,
        w8a8: { ...q, loadSeconds: w8a8LoadSeconds, calibrationTokens: 2 * perSequence },
        ratio: { prefill: q.prefillTokensPerSecond / f.prefillTokensPerSecond, decode: q.decodeTokensPerSecond / f.decodeTokensPerSecond },
        quality,
      };
    } finally {
      float.dispose();
      w8a8.dispose();
    }
  } finally {
    await model.source.close();
  }
}

export async function main(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  if (options === undefined) {
    process.stdout.write(usage);
    return;
  }
  const ctx = await GpuContext.create();
  const hostThreadYielded = yieldHostThread(ctx);
  const models = DECODE_MODELS.filter((m) => m.preset === 'llama110m' || options.with1b);
  const results = [];
  for (const m of models) results.push(await measure(ctx, m, options));
  ctx.destroy();
  printTable(
    results.map((r) => ({
      model: r.model,
      'prefill tok/s float': r.float.prefillTokensPerSecond.toFixed(1),
      'prefill tok/s w8a8': r.w8a8.prefillTokensPerSecond.toFixed(1),
      'x prefill': r.ratio.prefill.toFixed(2),
      'decode tok/s float': r.float.decodeTokensPerSecond.toFixed(1),
      'decode tok/s w8a8': r.w8a8.decodeTokensPerSecond.toFixed(1),
      'x decode': r.ratio.decode.toFixed(2),
      'mean KLD': r.quality.meanKld.toExponential(2),
      'top-1': r.quality.top1Agreement.toFixed(3),
    })),
  );
  const path = await writeResult('w8a8', {
    adapter: ctx.adapterName,
    isCpuAdapter: ctx.isCpuAdapter,
    hostThreadYielded,
    method:
      'Each model loads twice over the same GGUF: as stored (float) and with the runner option w8a8 (SmoothQuant factors, alpha 0.5, from 2 sequences of random token ids, 128 each (1.1B: 32), run through the model on the CPU at load; loadSeconds includes that pass). ' +
      'Per run and path, in turn: a prefill of prefillTokens random token ids (one step, its last position sampled greedily; the time to the sampled token) then 8 decode steps; medians over the runs after one untimed run each. ' +
      'quality: the W8A8 logits at every prompt position against the float runner\'s: mean KL divergence (float || w8a8), top-1 agreement, relative L2.',
    runs: options.runs,
    peer:
      "none in this run: llama.cpp has no W8A8 option for float weights; its 8-bit path, Q8_0 weights with activations quantized to 8 bits per block, is measured against this engine's in pnpm bench quant",
    models: results,
  });
  progress(`wrote ${path}`);
}
