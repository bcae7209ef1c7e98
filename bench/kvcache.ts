/**
 * KV-cache benchmark: replays a fixed synthetic serving workload through the paged allocator and
 * through contiguous per-request reservations (2048 slots each, as before paging), measures
 * memory waste and concurrency, fork sharing (parallel sampling, beam search), prefix-cache reuse
 * with a shared system prompt, and raw allocator throughput with 10,000 live sequences.
 *
 * Run: pnpm bench kvcache [--seed N]. Results on stdout, progress on stderr, JSON in
 * bench/results/kvcache.json.
 */
import { KvCacheManager, planKvCacheMemory, type BlockCopy } from '@llm/kvcache';
import { SeededRandom } from '@llm/formats';
import { Scheduler } from '@llm/scheduler';
import { writeResult } from './result-writer.js';

const DEFAULT_SEED = 20250101;
const NUM_REQUESTS = 2000;
const MAX_SEQ_LEN = 2048;
const PROMPT_MEDIAN = 256;
const OUTPUT_MEDIAN = 128;
const LENGTH_SIGMA = 1.0;
// One arrival per engine step on average: more than either system can serve, so admission, not
// arrivals, bounds concurrency and the two layouts are compared at full memory pressure.
const ARRIVALS_PER_STEP = 1;
const BLOCK_SIZE = 16;
// Llama-3-8B in f16 (2 MiB per 16-token block) with an 8 GiB KV budget: 4096 blocks, 65,536 slots.
const MODEL = { numLayers: 32, numKvHeads: 8, headDim: 128, contextLength: MAX_SEQ_LEN };
const BUDGET_BYTES = 8 * 2 ** 30;
// Admission keeps 1% of blocks free for decode growth, as vLLM's watermark does.
const WATERMARK_FRACTION = 0.01;
const SYSTEM_PROMPT_TOKENS = 512;
const VOCAB_SIZE = 32000;
const SHARING_WIDTH = 4;
const BEAM_REQUESTS = 500;
const OPS_LIVE_SEQUENCES = 10_000;
const OPS_COUNT = 2_000_000;

/** Uniform draws in [0, 1) from the project's seeded generator: deterministic across platforms. */
function prng(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.nextFloat();
}

function normal(rand: () => number): number {
  // Box-Muller; 1 - u keeps the logarithm finite.
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function logNormalInt(rand: () => number, median: number, sigma: number): number {
  return Math.max(1, Math.round(Math.exp(Math.log(median) + sigma * normal(rand))));
}

interface Request {
  readonly id: number;
  readonly arrivalStep: number;
  readonly promptLen: number;
  readonly outputLen: number;
  readonly tokenSeed: number;
}

function makeWorkload(seed: number): Request[] {
  const rand = prng(seed);
  const requests: Request[] = [];
  let t = 0;
  for (let id = 0; id < NUM_REQUESTS; id++) {
    t += -Math.log(1 - rand()) / ARRIVALS_PER_STEP;
    const promptLen = Math.min(logNormalInt(rand, PROMPT_MEDIAN, LENGTH_SIGMA), MAX_SEQ_LEN - 1);
    const outputLen = Math.min(logNormalInt(rand, OUTPUT_MEDIAN, LENGTH_SIGMA), MAX_SEQ_LEN - promptLen);
    requests.push({
      id,
      arrivalStep: Math.floor(t),
      promptLen,
      outputLen,
      tokenSeed: (rand() * 2 ** 32) >>> 0,
    });
  }
  return requests;
}

function randomTokens(seed: number, n: number): number[] {
  const rand = prng(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * VOCAB_SIZE));
}

/** The prompt as the engine sees it; with a system prompt, the user part is shortened to fit. */
function promptOf(r: Request, systemPrompt: readonly number[] | null): number[] {
  if (!systemPrompt) return randomTokens(r.tokenSeed, r.promptLen);
  const userLen = Math.max(1, Math.min(r.promptLen, MAX_SEQ_LEN - systemPrompt.length - r.outputLen));
  return [...systemPrompt, ...randomTokens(r.tokenSeed, userLen)];
}

function outputLenOf(r: Request, systemPrompt: readonly number[] | null): number {
  return systemPrompt ? Math.min(r.outputLen, MAX_SEQ_LEN - systemPrompt.length - 1) : r.outputLen;
}

interface ReplayStats {
  readonly wastePct: number;
  readonly maxConcurrentSeqs: number;
  readonly meanConcurrentSeqs: number;
  readonly steps: number;
  readonly preemptions: number;
}

/**
 * Paged replay through @llm/scheduler: FCFS admission while the prompt's blocks fit above the
 * watermark, one new token per running sequence per step; when a decode finds no block, the
 * latest admitted sequence is preempted by recompute, as vLLM does. The scheduler's sequence and
 * token budgets are set past what the pool can hold (each sequence holds at least one block, a
 * step's tokens at most the pool's slots), so memory alone limits concurrency and every prompt is
 * prefilled in the step that admits it.
 */
function replayPaged(
  requests: readonly Request[],
  numBlocks: number,
  systemPrompt: readonly number[] | null,
  enablePrefixCaching: boolean,
  onProgress: (msg: string) => void,
): ReplayStats & { kv: KvCacheManager } {
  const kv = new KvCacheManager({ numBlocks, blockSize: BLOCK_SIZE, enablePrefixCaching });
  const scheduler = new Scheduler(kv, {
    maxNumSeqs: numBlocks,
    maxNumBatchedTokens: numBlocks * BLOCK_SIZE,
    watermark: WATERMARK_FRACTION,
  });
  const byId = new Map<string, { request: Request; outputLen: number }>();
  let next = 0;
  let done = 0;
  let step = 0;
  let wasteSum = 0;
  let wasteSteps = 0;
  let concurrencySum = 0;
  let maxConcurrent = 0;

  while (done < requests.length) {
    while (next < requests.length && requests[next]!.arrivalStep <= step) {
      const r = requests[next++]!;
      const outputLen = outputLenOf(r, systemPrompt);
      byId.set(String(r.id), { request: r, outputLen });
      scheduler.add({ id: String(r.id), promptIds: promptOf(r, systemPrompt), maxTokens: outputLen });
    }
    const out = scheduler.schedule();

    // Every running sequence has a chunk (the budgets never bind); after the step its cache holds
    // startPos + tokens.length tokens.
    let liveTokens = 0;
    for (const c of out.chunks) liveTokens += c.startPos + c.tokens.length;
    const u = kv.usage();
    const reserved = u.usedBlocks * BLOCK_SIZE;
    if (reserved > 0) {
      // Shared prefix blocks hold tokens of many sequences: count each slot once.
      wasteSum += Math.max(0, reserved - liveTokens) / reserved;
      wasteSteps++;
    }
    concurrencySum += scheduler.numRunning;
    maxConcurrent = Math.max(maxConcurrent, scheduler.numRunning);

    // The "model": a request's i-th generated token is a function of its seed and i alone, so a
    // sequence recomputed after preemption continues with the same tokens.
    const sampled = new Map<string, number>();
    for (const c of out.chunks) {
      if (c.sample)
        sampled.set(c.id, (byId.get(c.id)!.request.tokenSeed + scheduler.numGenerated(c.id)) % VOCAB_SIZE);
    }
    scheduler.update(out, sampled);
    for (const c of out.chunks) {
      if (c.sample && scheduler.numGenerated(c.id) >= byId.get(c.id)!.outputLen) {
        scheduler.finish(c.id);
        done++;
      }
    }
    step++;
    if (step % 1000 === 0)
      onProgress(`step ${step}: ${done}/${requests.length} done, ${scheduler.numRunning} running`);
  }
  return {
    kv,
    wastePct: (100 * wasteSum) / Math.max(1, wasteSteps),
    maxConcurrentSeqs: maxConcurrent,
    meanConcurrentSeqs: concurrencySum / step,
    steps: step,
    preemptions: scheduler.stats().preemptions,
  };
}

/** Contiguous replay: each admitted request reserves MAX_SEQ_LEN slots up front. */
function replayContiguous(requests: readonly Request[], budgetSlots: number): ReplayStats {
  const capacity = Math.floor(budgetSlots / MAX_SEQ_LEN);
  let running: { len: number; remaining: number }[] = [];
  let next = 0;
  let queued = 0;
  let done = 0;
  let step = 0;
  let wasteSum = 0;
  let wasteSteps = 0;
  let concurrencySum = 0;
  let maxConcurrent = 0;
  while (done < requests.length) {
    while (next < requests.length && requests[next]!.arrivalStep <= step) {
      next++;
      queued++;
    }
    while (queued > 0 && running.length < capacity) {
      const r = requests[next - queued]!;
      running.push({ len: r.promptLen, remaining: r.outputLen });
      queued--;
    }
    let tokens = 0;
    for (const seq of running) {
      seq.len++;
      seq.remaining--;
      tokens += seq.len;
    }
    if (running.length > 0) {
      const reserved = running.length * MAX_SEQ_LEN;
      wasteSum += (reserved - tokens) / reserved;
      wasteSteps++;
    }
    concurrencySum += running.length;
    maxConcurrent = Math.max(maxConcurrent, running.length);
    const before = running.length;
    running = running.filter((s) => s.remaining > 0);
    done += before - running.length;
    step++;
  }
  return {
    wastePct: (100 * wasteSum) / Math.max(1, wasteSteps),
    maxConcurrentSeqs: maxConcurrent,
    meanConcurrentSeqs: concurrencySum / step,
    steps: step,
    preemptions: 0,
  };
}

interface SharingStats {
  readonly savedPct: number;
  readonly blocksWithSharing: number;
  readonly blocksWithoutSharing: number;
  readonly copyOnWriteCopies: number;
}

/** n samples of one prompt via fork: the prompt's full blocks are shared by all n. */
function parallelSampling(requests: readonly Request[]): SharingStats {
  const kv = new KvCacheManager({ numBlocks: 1024, blockSize: BLOCK_SIZE, enablePrefixCaching: false });
  let shared = 0;
  let unshared = 0;
  let copies = 0;
  for (const r of requests) {
    const ids = Array.from({ length: SHARING_WIDTH }, (_, j) => `${r.id}/${j}`);
    kv.allocate(ids[0]!, randomTokens(r.tokenSeed, r.promptLen));
    for (let j = 1; j < SHARING_WIDTH; j++) kv.fork(ids[0]!, ids[j]!);
    for (let t = 0; t < r.outputLen; t++) {
      for (let j = 0; j < SHARING_WIDTH; j++)
        if (kv.append(ids[j]!, [(t * 7 + j) % VOCAB_SIZE]).copy) copies++;
    }
    shared += kv.usage().usedBlocks;
    unshared += SHARING_WIDTH * Math.ceil((r.promptLen + r.outputLen) / BLOCK_SIZE);
    for (const id of ids) kv.free(id);
  }
  return {
    savedPct: 100 * (1 - shared / unshared),
    blocksWithSharing: shared,
    blocksWithoutSharing: unshared,
    copyOnWriteCopies: copies,
  };
}

/**
 * Beam search of width 4: each step the 4 best continuations are drawn from the current beams
 * (the best beam most often); a beam chosen k times continues in place and is forked k - 1 times,
 * a beam not chosen is freed, so beams share their common history.
 */
function beamSearch(requests: readonly Request[], seed: number): SharingStats {
  const kv = new KvCacheManager({ numBlocks: 1024, blockSize: BLOCK_SIZE, enablePrefixCaching: false });
  const rand = prng(seed ^ 0x5bd1e995);
  // Probability that a new beam descends from beam rank 0..3.
  const parentWeights = [0.4, 0.3, 0.2, 0.1];
  let shared = 0;
  let unshared = 0;
  let copies = 0;
  let nextId = 0;
  for (const r of requests) {
    let beams = [nextId++];
    kv.allocate(beams[0]!, randomTokens(r.tokenSeed, r.promptLen));
    for (let j = 1; j < SHARING_WIDTH; j++) {
      const id = nextId++;
      kv.fork(beams[0]!, id);
      beams.push(id);
    }
    for (let t = 0; t < r.outputLen; t++) {
      const children = new Array<number>(SHARING_WIDTH).fill(0);
      for (let j = 0; j < SHARING_WIDTH; j++) {
        let x = rand();
        let p = 0;
        while (p < SHARING_WIDTH - 1 && x >= parentWeights[p]!) x -= parentWeights[p++]!;
        children[p]!++;
      }
      const nextBeams: number[] = [];
      for (let p = 0; p < SHARING_WIDTH; p++) if (children[p] === 0) kv.free(beams[p]!);
      for (let p = 0; p < SHARING_WIDTH; p++) {
        const parent = beams[p]!;
        if (children[p] === 0) continue;
        const family = [parent];
        for (let c = 1; c < children[p]!; c++) {
          const id = nextId++;
          kv.fork(parent, id);
          family.push(id);
        }
        family.forEach((id, c) => {
          if (kv.append(id, [(t * 13 + p * 4 + c) % VOCAB_SIZE]).copy) copies++;
        });
        nextBeams.push(...family);
      }
      beams = nextBeams;
    }
    shared += kv.usage().usedBlocks;
    unshared += SHARING_WIDTH * Math.ceil((r.promptLen + r.outputLen) / BLOCK_SIZE);
    for (const id of beams) kv.free(id);
  }
  return {
    savedPct: 100 * (1 - shared / unshared),
    blocksWithSharing: shared,
    blocksWithoutSharing: unshared,
    copyOnWriteCopies: copies,
  };
}

interface OpsStats {
  /** Per second of this process's CPU time: stable on a shared machine, where wall time is not. */
  readonly opsPerSecond: number;
  readonly opsPerSecondWall: number;
  readonly ops: number;
  readonly seconds: number;
  readonly wallSeconds: number;
  readonly appends: number;
  readonly allocates: number;
  readonly frees: number;
}

/**
 * Allocator throughput with 10,000 live sequences: a random mix of single-token appends (the
 * decode hot path) and free + allocate of a 16..80-token prompt, prefix caching on.
 */
function opsThroughput(seed: number): OpsStats {
  const rand = prng(seed ^ 0x9e3779b9);
  const kv = new KvCacheManager({ numBlocks: OPS_LIVE_SEQUENCES * 24, blockSize: BLOCK_SIZE });
  const live: number[] = [];
  let nextId = 0;
  const promptPool = Array.from({ length: 256 }, (_, i) => randomTokens(seed + i, 16 + (i % 65)));
  const spawn = (): void => {
    const id = nextId++;
    kv.allocate(
      id,
      promptPool[id % promptPool.length]!.map((t) => (t + id) % VOCAB_SIZE),
    );
    live.push(id);
  };
  for (let i = 0; i < OPS_LIVE_SEQUENCES; i++) spawn();

  let appends = 0;
  let allocates = 0;
  let frees = 0;
  const copies: BlockCopy[] = [];
  const run = (count: number): void => {
    for (let i = 0; i < count;) {
      const k = Math.floor(rand() * live.length);
      const id = live[k]!;
      // Sequences finish at ~320 tokens, or at random 2% of the time.
      if (rand() < 0.02 || kv.numTokens(id) >= 320) {
        kv.free(id);
        live[k] = live[live.length - 1]!;
        live.pop();
        spawn();
        frees++;
        allocates++;
        i += 2;
      } else {
        kv.appendToken(id, (i * 31) % VOCAB_SIZE, copies);
        appends++;
        i++;
      }
    }
  };
  run(OPS_COUNT / 4); // warm-up: JIT and steady-state sequence lengths
  appends = allocates = frees = 0;
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  run(OPS_COUNT);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (cpu.user + cpu.system) / 1e6;
  const wallSeconds = (performance.now() - wall0) / 1000;
  const ops = appends + allocates + frees;
  return {
    opsPerSecond: ops / seconds,
    opsPerSecondWall: ops / wallSeconds,
    ops,
    seconds,
    wallSeconds,
    appends,
    allocates,
    frees,
  };
}

export interface KvCacheBenchResult {
  readonly paged: { blockSize: number; wastePct: number; maxConcurrentSeqs: number } & Record<
    string,
    unknown
  >;
  readonly contiguous: { wastePct: number; maxConcurrentSeqs: number } & Record<string, unknown>;
  readonly sharing: { parallelSamplingN4SavedPct: number; beam4SavedPct: number } & Record<string, unknown>;
  readonly prefixCache: { hitRatePct: number; prefillTokensSavedPct: number } & Record<string, unknown>;
  readonly opsPerSecond: number;
  readonly [key: string]: unknown;
}

const blockCounts = ({ savedPct: _, ...counts }: SharingStats): Omit<SharingStats, 'savedPct'> => counts;

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function main(argv: readonly string[]): Promise<KvCacheBenchResult> {
  const seedArg = argv.indexOf('--seed');
  const seed = seedArg >= 0 ? Number(argv[seedArg + 1]) : DEFAULT_SEED;
  if (!Number.isInteger(seed)) throw new Error(`--seed needs an integer, got ${argv[seedArg + 1]}`);
  const log = (msg: string): void => void process.stderr.write(`[kvcache] ${msg}\n`);
  const started = performance.now();

  const plan = planKvCacheMemory({
    budgetBytes: BUDGET_BYTES,
    model: MODEL,
    kvDtype: 'f16',
    blockSize: BLOCK_SIZE,
  });
  const numBlocks = plan.numBlocks;
  const budgetSlots = plan.tokenCapacity;
  const requests = makeWorkload(seed);
  const meanPrompt = requests.reduce((s, r) => s + r.promptLen, 0) / requests.length;
  const meanOutput = requests.reduce((s, r) => s + r.outputLen, 0) / requests.length;
  log(
    `workload: ${requests.length} requests, mean prompt ${meanPrompt.toFixed(1)}, mean output ${meanOutput.toFixed(1)}`,
  );

  log(`paged replay (${numBlocks} blocks of ${BLOCK_SIZE})`);
  const paged = replayPaged(requests, numBlocks, null, true, log);
  log('contiguous replay');
  const contiguous = replayContiguous(requests, budgetSlots);

  log('parallel sampling n=4');
  const sampling = parallelSampling(requests);
  log(`beam search width 4 (${BEAM_REQUESTS} requests)`);
  const beam = beamSearch(requests.slice(0, BEAM_REQUESTS), seed);

  log(`prefix cache replay (${SYSTEM_PROMPT_TOKENS}-token system prompt)`);
  const systemPrompt = randomTokens(seed ^ 0x1234567, SYSTEM_PROMPT_TOKENS);
  const cached = replayPaged(requests, numBlocks, systemPrompt, true, log);
  const pc = cached.kv.prefixCacheStats();
  log('same workload without prefix caching');
  const uncached = replayPaged(requests, numBlocks, systemPrompt, false, log);

  log(`allocator throughput with ${OPS_LIVE_SEQUENCES} live sequences`);
  const ops = opsThroughput(seed);

  const result: KvCacheBenchResult = {
    seed,
    workload: {
      requests: NUM_REQUESTS,
      arrivals: `Poisson, ${ARRIVALS_PER_STEP} per step`,
      promptLen: {
        distribution: 'log-normal',
        median: PROMPT_MEDIAN,
        sigma: LENGTH_SIGMA,
        mean: round(meanPrompt),
      },
      outputLen: {
        distribution: 'log-normal',
        median: OUTPUT_MEDIAN,
        sigma: LENGTH_SIGMA,
        mean: round(meanOutput),
      },
      maxSeqLen: MAX_SEQ_LEN,
      admission: `@llm/scheduler: FCFS while blocks suffice (watermark ${WATERMARK_FRACTION * 100}% of blocks), whole prompt prefilled in the admitting step, one token per running sequence per step, preempt latest by recompute`,
    },
    budget: {
      bytes: BUDGET_BYTES,
      model: 'Llama-3-8B shape (32 layers, 8 KV heads, head dim 128), f16 KV',
      bytesPerBlock: plan.bytesPerBlock,
      blocks: numBlocks,
      slots: budgetSlots,
    },
    paged: {
      blockSize: BLOCK_SIZE,
      wastePct: round(paged.wastePct, 3),
      maxConcurrentSeqs: paged.maxConcurrentSeqs,
      meanConcurrentSeqs: round(paged.meanConcurrentSeqs, 1),
      steps: paged.steps,
      preemptions: paged.preemptions,
    },
    contiguous: {
      reservedSlotsPerSeq: MAX_SEQ_LEN,
      wastePct: round(contiguous.wastePct, 3),
      maxConcurrentSeqs: contiguous.maxConcurrentSeqs,
      meanConcurrentSeqs: round(contiguous.meanConcurrentSeqs, 1),
      steps: contiguous.steps,
    },
    sharing: {
      parallelSamplingN4SavedPct: round(sampling.savedPct),
      beam4SavedPct: round(beam.savedPct),
      measuredAt: 'end of each request (blocks held by its 4 sequences), summed over requests',
      parallelSampling: { requests: requests.length, ...blockCounts(sampling) },
      beam: { requests: BEAM_REQUESTS, ...blockCounts(beam) },
    },
    prefixCache: {
      systemPromptTokens: SYSTEM_PROMPT_TOKENS,
      hitRatePct: round((100 * pc.hitBlocks) / Math.max(1, pc.queryBlocks)),
      prefillTokensSavedPct: round((100 * pc.hitTokens) / Math.max(1, pc.queryTokens)),
      definitions:
        'hitRate = cached full prompt blocks / cacheable full prompt blocks; prefillTokensSaved = cached prompt tokens / prompt tokens',
      queries: pc.queries,
      queryTokens: pc.queryTokens,
      hitTokens: pc.hitTokens,
      queryBlocks: pc.queryBlocks,
      hitBlocks: pc.hitBlocks,
      evictions: pc.evictions,
      maxConcurrentSeqs: cached.maxConcurrentSeqs,
      maxConcurrentSeqsWithoutPrefixCache: uncached.maxConcurrentSeqs,
      steps: cached.steps,
      stepsWithoutPrefixCache: uncached.steps,
    },
    opsPerSecond: Math.round(ops.opsPerSecond),
    opsBenchmark: {
      liveSequences: OPS_LIVE_SEQUENCES,
      ops: ops.ops,
      timing:
        'opsPerSecond per second of process CPU time (user + system); opsPerSecondWall per wall-clock second',
      cpuSeconds: round(ops.seconds, 3),
      wallSeconds: round(ops.wallSeconds, 3),
      opsPerSecondWall: Math.round(ops.opsPerSecondWall),
      appends: ops.appends,
      allocates: ops.allocates,
      frees: ops.frees,
      prefixCaching: true,
    },
    node: process.version,
    durationSeconds: round((performance.now() - started) / 1000, 1),
  };

  log(`wrote ${await writeResult('kvcache', { ...result })}`);

  const rows: [string, string][] = [
    ['paged waste (block 16)', `${result.paged.wastePct.toFixed(2)} %`],
    ['contiguous waste (2048/request)', `${result.contiguous.wastePct.toFixed(2)} %`],
    ['paged max concurrent sequences', String(result.paged.maxConcurrentSeqs)],
    ['contiguous max concurrent sequences', String(result.contiguous.maxConcurrentSeqs)],
    ['paged steps to drain / preemptions', `${paged.steps} / ${paged.preemptions}`],
    ['contiguous steps to drain', String(contiguous.steps)],
    ['parallel sampling n=4 blocks saved', `${result.sharing.parallelSamplingN4SavedPct.toFixed(2)} %`],
    ['beam search width 4 blocks saved', `${result.sharing.beam4SavedPct.toFixed(2)} %`],
    ['prefix cache block hit rate', `${result.prefixCache.hitRatePct.toFixed(2)} %`],
    ['prefix cache prefill tokens saved', `${result.prefixCache.prefillTokensSavedPct.toFixed(2)} %`],
    [
      'max concurrent with / without prefix cache',
      `${cached.maxConcurrentSeqs} / ${uncached.maxConcurrentSeqs}`,
    ],
    [`allocator ops/s (${OPS_LIVE_SEQUENCES} live sequences)`, result.opsPerSecond.toLocaleString('en-US')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`KV cache benchmark (seed ${seed}, ${NUM_REQUESTS} requests, ${numBlocks} blocks)\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
  return result;
}
