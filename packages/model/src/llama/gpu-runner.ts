import {
  argmax,
  embedding,
  gatherColumns,
  gatherRows,
  hadamardRows,
  kvWrite,
  linear,
  LINEAR_X_SLACK_TOKENS,
  logitsProcessors,
  LOGITS_PROCESSOR_ROW_WORDS,
  packLogitsProcessors,
  readTopLogprobs,
  rmsNorm,
  rope,
  ropeWritesKv,
  SAMPLING_PARAMS_WORDS,
  packSamplingParams,
  sample,
  topLogprobs,
  topLogprobsBytes,
  tokenMask,
  tokenMaskWords,
  uploadMatrix,
  concatMatrices,
  I8Matrix,
  int8ActivationsSupported,
  isPairsDtype,
  linearI8,
  quantizeActivationsI8,
  type TopLogprobsRow,
  type GpuContext,
  type GpuMatrix,
  type Int8Activations,
  type NormInt8Output,
  type LinearArgs,
  type PagedAttentionBatch,
  type StepRecorder,
} from '@llm/kernels';
import type { GpuKvDtype } from '@llm/quant';
import { attention } from '@llm/attention';
import type { LlamaConfig, WeightSource } from '@llm/formats';
import {
  BatchShapeError,
  checkSampleChunks,
  logitRows,
  packBatchWithin,
  previousSampleRows,
  type KeptSamples,
  type PackedBatch,
  type SequenceChunk,
} from './forward-batch.js';
import { readHostModel } from './layer-weights.js';
import { decodedMatrix, interleaveHalves, stackBiases, stackRuns, type HostMatrix } from './load-weights.js';
import { activationRanges, uploadI8Layer } from './w8a8-weights.js';
import {
  GREEDY,
  type BlockCopy,
  type LogitsOptions,
  type ModelRunner,
  type SampleRequest,
  type StepOptions,
  type StepResult,
  type SwapCopy,
} from './model-runner.js';
import {
  KvPoolError,
  kvLayerBlockBytes,
  resolveRunnerOptions,
  type ResolvedRunnerOptions,
  type RunnerOptions,
} from './runner-options.js';

interface Destroyable {
  destroy(): void;
}

interface GpuLayer {
  attnNorm: GPUBuffer;
  /** Q, K and V rows stacked: one product per step, split into q and k|v. */
  qkv: LayerMatrix;
  /** The Q, K and V biases stacked (zeros for a missing one), when the model has any. */
  qkvBias: GPUBuffer | undefined;
  wo: LayerMatrix;
  ffnNorm: GPUBuffer;
  /** gate and up rows interleaved (gate_i, up_i): one product writes silu(gate) * up. */
  gateUp: LayerMatrix;
  down: LayerMatrix;
  /** Act-order GPTQ layers: u32 input orders; x is gathered in it before the product. */
  qkvOrder: GPUBuffer | undefined;
  woOrder: GPUBuffer | undefined;
  gateUpOrder: GPUBuffer | undefined;
  downOrder: GPUBuffer | undefined;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
}

/** A layer's product weight: as stored, or int8 for W8A8 (the runner's `w8a8` option). */
type LayerMatrix = GpuMatrix | I8Matrix;

/** Activation buffers sized once for maxStepTokens; a step reuses them. */
interface Scratch {
  /**
   * Int8 activations: an RMSNorm's output quantized to int8 per 32-value group, for the Q4_0 or
   * Q8_0 product that reads it (16 bytes each when no product takes int8 activations).
   */
  normQ: GPUBuffer;
  normQScales: GPUBuffer;
  /** Each normQ group's sum of squares of the norm's input: the product applies the norm's scale. */
  normQSums: GPUBuffer;
  /** Int8 activations: attention's output quantized by attention, for the output projection. */
  attnQ: GPUBuffer;
  attnQScales: GPUBuffer;
  /** Int8 activations: the gate/up product's output quantized by that product, for the down product. */
  hiddenQ: GPUBuffer;
  hiddenQScales: GPUBuffer;
  /** W8A8: a product's input quantized for its weight (16 bytes each without w8a8). */
  xq: GPUBuffer;
  xqScales: GPUBuffer;
  /** The input of an act-order product in its weight's column order (16 bytes when no layer has one). */
  xPerm: GPUBuffer;
  x: GPUBuffer;
  x2: GPUBuffer;
  xb: GPUBuffer;
  q: GPUBuffer;
  /** Each token's K row then its V row: [tokens, 2 * numKvHeads * headDim]. */
  kv: GPUBuffer;
  attn: GPUBuffer;
  hidden: GPUBuffer;
  last: GPUBuffer;
  logits: GPUBuffer;
  tokens: GPUBuffer;
  ids: GPUBuffer;
  positions: GPUBuffer;
  slots: GPUBuffer;
  queryStarts: GPUBuffer;
  contextLens: GPUBuffer;
  tokenSeqIds: GPUBuffer;
  /** Packed rows the LM head runs on (one per sample of the current group). */
  sampleRows: GPUBuffer;
  blockTables: GPUBuffer;
  samplingParams: GPUBuffer;
  /** Per sampled row: repetition penalty and its reciprocal (logitsProcessors). */
  processorRows: GPUBuffer;
}

/** A submitted step's pending reads: sampled ids per group of maxSeqs, and logprobs. */
interface Submission {
  readonly reads: Promise<ArrayBuffer>[];
  readonly logprobReads: { first: number; rows: number; n: number; read: Promise<ArrayBuffer> }[];
}

export class GpuModelRunner implements ModelRunner {
  readonly backend = 'webgpu';
  readonly adapterName: string;
  readonly blockSize: number;
  readonly numBlocks: number;
  /** Bytes of the KV pool: K and V buffers of every layer. */
  readonly kvPoolBytes: number;
  readonly maxStepTokens: number;
  readonly maxSeqs: number;
  readonly kvDtype: GpuKvDtype;
  /** Whether every kernel's result for a token is independent of the rest of the batch. */
  readonly batchInvariant: boolean;
  private disposed = false;
  /** The samples the last step left in scratch.tokens (its last group of maxSeqs). */
  private kept: KeptSamples = { first: 0, count: 0 };
  /** Resolves once the last step called has submitted all its work; unset when it has. */
  private submitting: Promise<void> | undefined;
  private readonly extra = new Map<string, GPUBuffer>();
  /** Swapped-out blocks: every layer's K then V block, by host block. */
  private readonly hostBlocks = new Map<number, Uint8Array>();

  private constructor(
    private readonly ctx: GpuContext,
    readonly config: LlamaConfig,
    private readonly tokenEmbedding: GpuMatrix,
    private readonly output: GpuMatrix,
    private readonly outputNorm: GPUBuffer,
    private readonly ropeFactors: GPUBuffer | undefined,
    private readonly layers: GpuLayer[],
    private readonly scratch: Scratch,
    private readonly owned: readonly Destroyable[],
    options: ResolvedRunnerOptions,
  ) {
    this.adapterName = ctx.adapterName;
    this.blockSize = options.blockSize;
    this.numBlocks = options.numBlocks;
    this.kvPoolBytes = options.kvPoolBytes;
    this.maxStepTokens = options.maxStepTokens;
    this.maxSeqs = options.maxSeqs;
    this.kvDtype = options.kvDtype;
    this.batchInvariant = options.batchInvariant;
  }

  static async load(
    ctx: GpuContext,
    source: WeightSource,
    options: RunnerOptions = {},
    onProgress?: (done: number, total: number) => void,
  ): Promise<GpuModelRunner> {
    const opts = resolveRunnerOptions(source.config, options);
    const config = opts.config;
    const kvBytes = opts.numBlocks * kvLayerBlockBytes(config, opts.blockSize, opts.kvDtype);
    if (kvBytes > ctx.limits.maxStorageBufferBindingSize) {
      throw new KvPoolError(
        `a KV pool of ${opts.numBlocks} blocks needs ${kvBytes} bytes per layer, over this adapter's ` +
          `maxStorageBufferBindingSize of ${ctx.limits.maxStorageBufferBindingSize}; lower kvBudgetBytes or the context`,
        'resource_exhausted',
      );
    }
    // Everything the runner allocates, so that dispose() (or a failed load) releases all of it.
    const owned: Destroyable[] = [];
    const own = <T extends Destroyable>(resource: T): T => (owned.push(resource), resource);
    // Q4_0 and Q8_0 products on int8 activations where asked and the adapter runs them.
    const int8 = opts.activations === 'int8' && int8ActivationsSupported(ctx);
    const upload = (m: HostMatrix, label: string, product = true) =>
      own(uploadMatrix(ctx, m.data, m.rows, m.cols, m.dtype, { label, ...(product && int8 && isPairsDtype(m.dtype) ? { activations: 'int8' } : {}) }));
    // The embedding and LM head are read without a gather: an act-order one is decoded.
    const uploadInOrder = (m: HostMatrix, label: string, product = true) => upload(m.inputOrder ? decodedMatrix(m) : m, label, product);
    const inputOrder = (m: HostMatrix, label: string) => (m.inputOrder ? own(ctx.upload(m.inputOrder, label)) : undefined);
    // Q|K|V as one product: one matrix when the three share a type, else one part per type,
    // each read in place (concatMatrices takes over the runs' parts). stackRuns gives one run
    // whenever an input order is involved: its order is the stack's.
    const uploadStack = (parts: readonly HostMatrix[], label: string): { matrix: GpuMatrix; order: GPUBuffer | undefined } => {
      const runs = stackRuns(parts);
      if (runs.length === 1) return { matrix: upload(runs[0]!, label), order: inputOrder(runs[0]!, `${label}.order`) };
      const matrices = runs.map((run, i) => uploadMatrix(ctx, run.data, run.rows, run.cols, run.dtype, { label: `${label}.${i}` }));
      return { matrix: own(concatMatrices(matrices, label)), order: undefined };
    };
    const vector = (data: Float32Array, label: string) => own(ctx.upload(data, label));
    const optionalVector = (data: Float32Array | undefined, label: string) =>
      data ? vector(data, label) : undefined;
    try {
      // W8A8: the activations' ranges first, from one CPU pass over the calibration tokens.
      const w8a8 = opts.w8a8;
      // The calibration pass counts as one more step per layer: on the CPU it takes longer than
      // the upload.
      const calibrationSteps = w8a8 ? config.numLayers : 0;
      const total = (uploadTotal: number) => calibrationSteps + uploadTotal;
      const ranges = w8a8 && (await activationRanges(source, w8a8.calibration, (done) => onProgress?.(done, total(config.numLayers + 2))));
      const { model, layers } = await readHostModel(
        source,
        (w, l): GpuLayer => {
          const common = {
            attnNorm: vector(w.attnNorm, `blk.${l}.attn_norm`),
            qkvBias: optionalVector(stackBiases([w.bq, w.bk, w.bv], [w.wq.rows, w.wk.rows, w.wv.rows]), `blk.${l}.attn_qkv.bias`),
            ffnNorm: vector(w.ffnNorm, `blk.${l}.ffn_norm`),
            kCache: own(ctx.createBuffer(kvBytes, `kv.k.${l}`)),
            vCache: own(ctx.createBuffer(kvBytes, `kv.v.${l}`)),
          };
          if (ranges) {
            const i8 = uploadI8Layer(ctx, w, ranges[l]!, l, w8a8.alpha);
            Object.values(i8).forEach(own);
            return { ...common, ...i8, qkvOrder: undefined, woOrder: undefined, gateUpOrder: undefined, downOrder: undefined };
          }
          const qkv = uploadStack([w.wq, w.wk, w.wv], `blk.${l}.attn_qkv`);
          return {
            ...common,
            qkv: qkv.matrix,
            qkvOrder: qkv.order,
            woOrder: inputOrder(w.wo, `blk.${l}.attn_output.order`),
            gateUpOrder: inputOrder(w.gateUp, `blk.${l}.ffn_gate_up.order`),
            downOrder: inputOrder(w.down, `blk.${l}.ffn_down.order`),
            wo: upload(w.wo, `blk.${l}.attn_output`),
            gateUp: upload(interleaveHalves(w.gateUp), `blk.${l}.ffn_gate_up`),
            down: upload(w.down, `blk.${l}.ffn_down`),
          };
        },
        onProgress && ((done, uploadTotal) => onProgress(calibrationSteps + done, total(uploadTotal))),
      );
      // The embedding lookup reads the float layout: a tied LM head shares it.
      const tokenEmbedding = uploadInOrder(model.tokenEmbedding, 'token_embd', false);
      const output = model.output ? uploadInOrder(model.output, 'output') : tokenEmbedding;
      const outputNorm = vector(model.outputNorm, 'output_norm');
      const ropeFactors = optionalVector(model.ropeFactors, 'rope_freqs');
      const scratch = createScratch(
        ctx,
        config,
        opts.maxStepTokens,
        opts.maxSeqs,
        Math.ceil(config.contextLength / opts.blockSize),
        layers.some((l) => l.qkvOrder || l.woOrder || l.gateUpOrder || l.downOrder),
        // The longest int8 row a product's input is quantized to (0: no W8A8 layer).
        Math.max(0, ...layers.flatMap((l) => [l.qkv, l.wo, l.gateUp, l.down]).map((m) => (m instanceof I8Matrix ? m.words : 0))),
        [output, ...layers.flatMap((l) => [l.qkv, l.gateUp])].some(readsInt8),
        layers.some(quantizesHidden),
        layers.some(quantizesAttention),
      );
      owned.push(...Object.values(scratch));
      const runner = new GpuModelRunner(
        ctx,
        config,
        tokenEmbedding,
        output,
        outputNorm,
        ropeFactors,
        layers,
        scratch,
        owned,
        opts,
      );
      await runner.warmUp();
      return runner;
    } catch (error) {
      for (const resource of owned) resource.destroy();
      throw error;
    }
  }

  /**
   * Creates the pipelines of every step shape while the model loads rather than in the middle of
   * a generation (on a CPU adapter compiling them took seconds when a batch first had a new size).
   * A short prefill chunk and a sampled decode run once (they write the first KV blocks, which hold
   * nothing yet); the other token counts the kernels specialise on (2, 4 and up to 15 tokens, as
   * batches of that many sequences or a longer chunk take) are only recorded, never run:
   * recording creates their pipelines.
   */
  private async warmUp(): Promise<void> {
    const widest = Math.max(1, Math.min(15, this.maxStepTokens, this.config.contextLength - 1, this.numBlocks * this.blockSize - 1));
    const prefill = Math.min(7, widest);
    const blockTable = Array.from({ length: Math.ceil((widest + 1) / this.blockSize) }, (_, i) => i);
    await this.step(
      [{ tokens: new Array<number>(prefill).fill(0), startPos: 0, blockTable, prefill: true }],
      [{ chunk: 0, params: GREEDY, u: 0 }],
    );
    await this.step(
      [{ tokens: [0], startPos: prefill, blockTable }],
      [{ chunk: 0, params: { ...GREEDY, temperature: 1 }, u: 0.5 }],
    );
    for (const tokens of new Set([2, 4, widest].filter((t) => t <= widest && t !== prefill))) {
      const rec = this.ctx.recorder();
      this.forward(rec, this.pack([{ tokens: new Array<number>(tokens).fill(0), startPos: 0, blockTable, prefill: true }]));
      this.head(rec, this.scratch.sampleRows, Math.min(tokens, this.maxSeqs));
    }
  }

  step(chunks: readonly SequenceChunk[], samples: readonly SampleRequest[], options: StepOptions = {}): Promise<StepResult> {
    // A step records only once the one before has submitted everything: usually at once, later
    // when that one waits for token masks.
    const before = this.submitting;
    let signal!: () => void;
    const mine = new Promise<void>((resolve) => (signal = resolve));
    this.submitting = mine;
    const submitted = () => {
      if (this.submitting === mine) this.submitting = undefined;
      signal();
    };
    if (before === undefined) return this.record(chunks, samples, options, submitted);
    return before.then(() => this.record(chunks, samples, options, submitted));
  }

  /**
   * Records and submits one step (synchronously unless a sample has a token mask), calls
   * `submitted`, then reads its results.
   */
  private async record(
    chunks: readonly SequenceChunk[],
    samples: readonly SampleRequest[],
    options: StepOptions,
    submitted: () => void,
  ): Promise<StepResult> {
    let submission: Submission;
    try {
      const submitting = this.submitStep(chunks, samples, options);
      submission = submitting instanceof Promise ? await submitting : submitting;
    } finally {
      submitted();
    }
    const { reads, logprobReads } = submission;
    const tokens = new Uint32Array(samples.length);
    for (const [g, read] of reads.entries()) tokens.set(new Uint32Array(await read), g * this.maxSeqs);
    const logprobs = new Array<TopLogprobsRow | undefined>(samples.length).fill(undefined);
    for (const { first, rows, n, read } of logprobReads) {
      readTopLogprobs(new Uint32Array(await read), rows, n).forEach((row, i) => {
        const want = samples[first + i]!.logprobs;
        if (want !== undefined) logprobs[first + i] = { ...row, top: row.top.slice(0, want) };
      });
    }
    return { tokens, logprobs };
  }

  /** Records and submits the step: synchronously, unless a sample's token mask has to be awaited. */
  private submitStep(
    chunks: readonly SequenceChunk[],
    samples: readonly SampleRequest[],
    options: StepOptions,
  ): Submission | Promise<Submission> {
    const batch = this.pack(chunks);
    checkSampleChunks(samples, chunks.length);
    const fedBack = previousSampleRows(options.previousSamples ?? [], chunks, batch, this.kept);
    if (options.swapIn) this.writeSwappedIn(options.swapIn);
    const rec = this.ctx.recorder();
    if (options.copies) this.recordCopies(rec, options.copies);
    this.recordFedBack(rec, fedBack);
    this.forward(rec, batch);
    if (!samples.some((r) => r.tokenMask)) return this.submitSamples(rec, batch, samples, []);
    // The forward goes to the device first; the host computes the masks while it runs.
    rec.submit();
    return Promise.all(samples.map((r) => r.tokenMask?.())).then((masks) =>
      this.submitSamples(undefined, batch, samples, masks),
    );
  }

  /**
   * The LM head, logits processors, masks and sampling of the step's samples, on `rec` (the
   * forward's recorder, not yet submitted) or on recorders of their own.
   */
  private submitSamples(
    forward: StepRecorder | undefined,
    batch: PackedBatch,
    samples: readonly SampleRequest[],
    masks: readonly (Uint32Array | undefined)[],
  ): Submission {
    const s = this.scratch;
    const vocab = this.config.vocabSize;
    // Samples run in groups of maxSeqs rows (the logits scratch): n > 1 completions of several
    // prompts may ask for more samples than sequences in one step. Each group is submitted on its
    // own: queue writes land before the next submit, so the next group's rows and parameters must
    // not be written until the previous group's commands are queued.
    const reads: Promise<ArrayBuffer>[] = [];
    const logprobReads: Submission['logprobReads'] = [];
    // The last group's tokens stay in scratch.tokens, for the next step's previousSamples.
    this.kept = { first: samples.length === 0 ? 0 : Math.floor((samples.length - 1) / this.maxSeqs) * this.maxSeqs, count: samples.length };
    const words = tokenMaskWords(vocab);
    let rec = forward ?? this.ctx.recorder();
    for (let first = 0; first < samples.length; first += this.maxSeqs) {
      if (first > 0) rec = this.ctx.recorder();
      const group = samples.slice(first, first + this.maxSeqs);
      const rows = group.length;
      this.ctx.write(s.sampleRows, Uint32Array.from(group, (r) => batch.lastRows[r.chunk]!));
      this.head(rec, s.sampleRows, rows);
      const processors = packLogitsProcessors(group.map((r) => r.processors ?? {}), vocab);
      const top = Math.max(-1, ...group.map((r) => r.logprobs ?? -1));
      const maskRows: number[] = [];
      const bitmask = new Uint32Array(group.length * words);
      for (let i = 0; i < group.length; i++) {
        const mask = masks[first + i];
        if (mask === undefined) continue;
        if (mask.length !== words) {
          throw new BatchShapeError(`sample ${first + i}'s token mask has ${mask.length} words; vocab ${vocab} needs ${words}`);
        }
        bitmask.set(mask, maskRows.length * words);
        maskRows.push(i);
      }
      // Logprobs come from the raw logits: keep a copy when processors or masks are about to change them.
      let raw = s.logits;
      if (top >= 0 && (processors.entryCount > 0 || maskRows.length > 0)) {
        raw = this.growable('rawLogits', rows * vocab * 4);
        rec.copy(s.logits, 0, raw, 0, rows * vocab * 4);
      }
      if (processors.entryCount > 0) {
        this.ctx.write(s.processorRows, processors.rowParams);
        const entries = this.growable('processorEntries', processors.entries.byteLength);
        this.ctx.write(entries, processors.entries);
        logitsProcessors(rec, { logits: s.logits, rowParams: s.processorRows, entries, entryCount: processors.entryCount, rows, vocab });
      }
      if (maskRows.length > 0) {
        const maskBuffer = this.growable('tokenMasks', maskRows.length * words * 4);
        const rowBuffer = this.growable('tokenMaskRows', maskRows.length * 4);
        this.ctx.write(maskBuffer, bitmask.subarray(0, maskRows.length * words));
        this.ctx.write(rowBuffer, Uint32Array.from(maskRows));
        tokenMask(rec, { logits: s.logits, bitmask: maskBuffer, maskRows: rowBuffer, masks: maskRows.length, rows, vocab });
      }
      if (group.every((r) => r.params.temperature <= 0)) {
        argmax(rec, { logits: s.logits, out: s.tokens, rows, vocab });
      } else {
        this.ctx.write(s.samplingParams, packSamplingParams(group.map((r) => ({ ...r.params, u: r.u }))));
        sample(rec, { logits: s.logits, out: s.tokens, params: s.samplingParams, rows, vocab });
      }
      reads.push(rec.read(s.tokens, 0, rows * 4));
      if (top >= 0) {
        const out = this.growable('logprobs', topLogprobsBytes(rows, top));
        topLogprobs(rec, { logits: raw, chosen: s.tokens, out, rows, vocab, n: top });
        logprobReads.push({ first, rows, n: top, read: rec.read(out, 0, topLogprobsBytes(rows, top)) });
      }
      rec.submit();
    }
    if (samples.length === 0) rec.submit();
    return { reads, logprobReads };
  }

  /** Copies the previous step's sampled ids into this step's input ids (runs of consecutive rows as one copy). */
  private recordFedBack(rec: StepRecorder, fedBack: readonly { row: number; kept: number }[]): void {
    const sorted = fedBack.slice().sort((a, b) => a.row - b.row);
    for (let i = 0; i < sorted.length; ) {
      let n = 1;
      while (i + n < sorted.length && sorted[i + n]!.row === sorted[i]!.row + n && sorted[i + n]!.kept === sorted[i]!.kept + n) n++;
      rec.copy(this.scratch.tokens, sorted[i]!.kept * 4, this.scratch.ids, sorted[i]!.row * 4, n * 4);
      i += n;
    }
  }

  /**
   * A scratch buffer of at least `bytes` that only some steps need (raw logits for logprobs,
   * processor entries whose count varies): created on first use and grown by doubling.
   */
  private growable(name: string, bytes: number): GPUBuffer {
    const have = this.extra.get(name);
    if (have && have.size >= bytes) return have;
    have?.destroy();
    const buffer = this.ctx.createBuffer(Math.max(256, bytes, 2 * (have?.size ?? 0)), name);
    this.extra.set(name, buffer);
    return buffer;
  }

  async logits(chunks: readonly SequenceChunk[], options: LogitsOptions = {}): Promise<Float32Array> {
    const batch = this.pack(chunks);
    const rows = logitRows(batch, options.rows);
    const vocab = this.config.vocabSize;
    let rec = this.ctx.recorder();
    this.forward(rec, batch);
    // The logits scratch holds maxSeqs rows: larger reads go in groups, each submitted on its own
    // so that the next group's row list is not written before the previous group's commands.
    const reads: Promise<ArrayBuffer>[] = [];
    for (let first = 0; first < rows.length; first += this.maxSeqs) {
      if (first > 0) rec = this.ctx.recorder();
      const group = rows.subarray(first, first + this.maxSeqs);
      this.ctx.write(this.scratch.sampleRows, group);
      this.head(rec, this.scratch.sampleRows, group.length);
      reads.push(rec.read(this.scratch.logits, 0, group.length * vocab * 4));
      rec.submit();
    }
    if (rows.length === 0) rec.submit();
    const out = new Float32Array(rows.length * vocab);
    for (const [g, read] of reads.entries()) out.set(new Float32Array(await read), g * this.maxSeqs * vocab);
    return out;
  }

  async copyBlocks(copies: readonly BlockCopy[]): Promise<void> {
    if (copies.length === 0) return;
    const rec = this.ctx.recorder();
    this.recordCopies(rec, copies);
    rec.submit();
    await this.ctx.device.queue.onSubmittedWorkDone();
  }

  async swapOut(copies: readonly SwapCopy[]): Promise<void> {
    if (copies.length === 0) return;
    const blockBytes = kvLayerBlockBytes(this.config, this.blockSize, this.kvDtype);
    const perBlock = 2 * this.layers.length * blockBytes;
    const staging = this.growable('swap', copies.length * perBlock);
    const rec = this.ctx.recorder();
    copies.forEach(({ gpuBlock }, i) => {
      this.layers.forEach((layer, l) => {
        const at = i * perBlock + 2 * l * blockBytes;
        rec.copy(layer.kCache, gpuBlock * blockBytes, staging, at, blockBytes);
        rec.copy(layer.vCache, gpuBlock * blockBytes, staging, at + blockBytes, blockBytes);
      });
    });
    const read = rec.read(staging, 0, copies.length * perBlock);
    rec.submit();
    const bytes = new Uint8Array(await read);
    copies.forEach(({ hostBlock }, i) => this.hostBlocks.set(hostBlock, bytes.slice(i * perBlock, (i + 1) * perBlock)));
  }

  /** Writes swapped-out blocks back into the pool (queue writes, ahead of the step's commands). */
  private writeSwappedIn(copies: readonly SwapCopy[]): void {
    const blockBytes = kvLayerBlockBytes(this.config, this.blockSize, this.kvDtype);
    for (const { gpuBlock, hostBlock } of copies) {
      const bytes = this.hostBlocks.get(hostBlock);
      if (!bytes) throw new BatchShapeError(`host block ${hostBlock} holds nothing swapped out`);
      this.hostBlocks.delete(hostBlock);
      this.layers.forEach((layer, l) => {
        this.ctx.write(layer.kCache, bytes.subarray(2 * l * blockBytes, (2 * l + 1) * blockBytes), gpuBlock * blockBytes);
        this.ctx.write(layer.vCache, bytes.subarray((2 * l + 1) * blockBytes, (2 * l + 2) * blockBytes), gpuBlock * blockBytes);
      });
    }
  }

  /** Block copies inside a pool buffer go through a staging buffer: WebGPU copies between two buffers only. */
  private recordCopies(rec: StepRecorder, copies: readonly BlockCopy[]): void {
    if (copies.length === 0) return;
    const blockBytes = kvLayerBlockBytes(this.config, this.blockSize, this.kvDtype);
    const staging = this.growable('blockCopies', copies.length * blockBytes);
    for (const layer of this.layers) {
      for (const cache of [layer.kCache, layer.vCache]) {
        copies.forEach(({ src }, i) => rec.copy(cache, src * blockBytes, staging, i * blockBytes, blockBytes));
        copies.forEach(({ dst }, i) => rec.copy(staging, i * blockBytes, cache, dst * blockBytes, blockBytes));
      }
    }
  }

  /** Destroys every buffer the runner created: weights, KV pool and scratch. */
  deviceLost(): string | undefined {
    return this.ctx.lostReason;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const resource of this.owned) resource.destroy();
    for (const buffer of this.extra.values()) buffer.destroy();
  }

  private pack(chunks: readonly SequenceChunk[]): PackedBatch {
    const batch = packBatchWithin(chunks, this);
    const s = this.scratch;
    const ctx = this.ctx;
    ctx.write(s.ids, batch.tokenIds);
    ctx.write(s.positions, batch.positions);
    ctx.write(s.slots, batch.slots);
    ctx.write(s.queryStarts, batch.queryStarts);
    ctx.write(s.contextLens, batch.contextLens);
    ctx.write(s.tokenSeqIds, batch.tokenSeqIds);
    // The packed tables' row stride (batch.maxBlocksPerSeq) is what the kernels are given; the
    // buffer is sized for maxSeqs rows of the longest context the step check allows.
    ctx.write(s.blockTables, batch.blockTables);
    return batch;
  }

  /** Records the forward pass of one step through the last layer: hidden states in scratch.x. */
  private forward(rec: StepRecorder, batch: PackedBatch): void {
    const c = this.config;
    const s = this.scratch;
    const m = batch.numTokens;
    embedding(rec, { ids: s.ids, table: this.tokenEmbedding, out: s.x, count: m });
    // Whether the previous layer's down product wrote this layer's attention norm (int8) itself.
    let normed = false;
    this.layers.forEach((layer, i) => {
      const qkvInt8 = this.normInt8(layer.qkv, layer.qkvOrder);
      if (!normed) {
        rmsNorm(rec, { x: s.x, weight: layer.attnNorm, out: s.xb, rows: m, dim: c.dim, eps: c.rmsNormEps, int8: qkvInt8 && this.normOutput() });
      }
      const kvLen = c.numKvHeads * c.headDim;
      const pool = {
        slots: s.slots,
        kCache: layer.kCache,
        vCache: layer.vCache,
        numBlocks: this.numBlocks,
        blockSize: this.blockSize,
      };
      const ropeArgs = {
        positions: s.positions,
        numHeads: c.numHeads,
        numKvHeads: c.numKvHeads,
        headDim: c.headDim,
        theta: c.ropeTheta,
        layout: c.ropeLayout,
        ...(this.ropeFactors ? { freqFactors: this.ropeFactors } : {}),
        ...(c.ropeScaling.type === 'linear' ? { positionScale: 1 / c.ropeScaling.factor } : {}),
      };
      // Where the pool's type allows, rope writes the rotated K and V into it itself: one
      // dispatch per layer fewer; a product over int8 activations rotates and writes them in its
      // own stores, another fewer.
      const ropeWrites = ropeWritesKv(c.ropeLayout, this.kvDtype);
      const ropeInProduct = ropeWrites && readsInt8(layer.qkv);
      this.product(rec, {
        x: this.inOrder(rec, s.xb, layer.qkvOrder, m, c.dim),
        int8X: qkvInt8,
        w: layer.qkv,
        out: s.q,
        m,
        split: { at: c.numHeads * c.headDim, out: s.kv },
        ...(layer.qkvBias ? { bias: layer.qkvBias } : {}),
        ...(ropeInProduct ? { rope: { ...ropeArgs, kvWrite: { ...pool, kvDtype: this.kvDtype } } } : {}),
      });
      if (!ropeInProduct) {
        rope(rec, {
          ...ropeArgs,
          q: s.q,
          k: s.kv,
          kStride: 2 * kvLen,
          tokens: m,
          ...(ropeWrites
            ? { kvWrite: { ...pool, v: s.kv, vStride: 2 * kvLen, vOffset: kvLen, kvDtype: this.kvDtype } }
            : {}),
        });
      }
      if (this.kvDtype === 'i4') {
        // 4-bit keys lose the channels that carry little of a key's magnitude unless a rotation
        // spreads the few large ones first: K goes into the pool rotated by a Hadamard transform
        // and the queries by the same (scaled by 1 / headDim), which leaves every score as it was.
        hadamardRows(rec, { x: s.q, tokens: m, heads: c.numHeads, dim: c.headDim, scale: 1 / c.headDim });
        hadamardRows(rec, { x: s.kv, tokens: m, heads: c.numKvHeads, dim: c.headDim, stride: 2 * kvLen });
      }
      if (!ropeWrites) {
        kvWrite(rec, {
          ...pool,
          k: s.kv,
          v: s.kv,
          kStride: 2 * kvLen,
          vStride: 2 * kvLen,
          vOffset: kvLen,
          tokens: m,
          numKvHeads: c.numKvHeads,
          headDim: c.headDim,
          kvDtype: this.kvDtype,
        });
      }
      const batchAttention: PagedAttentionBatch = {
        q: s.q,
        out: s.attn,
        kCache: layer.kCache,
        vCache: layer.vCache,
        kvDtype: this.kvDtype,
        blockTables: s.blockTables,
        queryStarts: s.queryStarts,
        contextLens: s.contextLens,
        tokenSeqIds: s.tokenSeqIds,
        numTokens: m,
        numSeqs: batch.numSeqs,
        maxBlocksPerSeq: batch.maxBlocksPerSeq,
        maxContextLen: batch.maxContextLen,
        numHeads: c.numHeads,
        numKvHeads: c.numKvHeads,
        headDim: c.headDim,
        blockSize: this.blockSize,
        scale: 1 / Math.sqrt(c.headDim),
      };
      // Generated tokens through the decode kernel, prompt tokens through the prefill kernel, whatever
      // the mix: a token's attention never depends on what else the step carries.
      // Attention also writes its output quantized for an output projection over int8 activations.
      const attnInt8 = quantizesAttention(layer) ? { xq: s.attnQ, xg: s.attnQScales } : undefined;
      attention(rec, batchAttention, { decodeSeqs: batch.numDecodeSeqs, int8Out: attnInt8 });
      const attnIn = this.inOrder(rec, s.attn, layer.woOrder, m, c.numHeads * c.headDim);
      // A product over int8 activations after the FFN norm takes the norm's int8 input from the
      // output projection's stores: no norm dispatch (the float output, s.xb, is then unused).
      const gateUpInt8 = this.normInt8(layer.gateUp, layer.gateUpOrder);
      const ffnNormOut = this.normOut(layer.wo, gateUpInt8, layer.ffnNorm);
      this.product(rec, { x: attnIn, int8X: attnInt8, w: layer.wo, out: s.x2, m, residual: s.x, normOut: ffnNormOut });
      if (!ffnNormOut) {
        rmsNorm(rec, { x: s.x2, weight: layer.ffnNorm, out: s.xb, rows: m, dim: c.dim, eps: c.rmsNormEps, int8: gateUpInt8 && this.normOutput() });
      }
      const ffnIn = this.inOrder(rec, s.xb, layer.gateUpOrder, m, c.dim);
      // The gate/up product also writes its output quantized for the down product.
      const hiddenInt8 = quantizesHidden(layer) ? { xq: s.hiddenQ, xg: s.hiddenQScales } : undefined;
      this.product(rec, { x: ffnIn, int8X: gateUpInt8, int8Out: hiddenInt8, w: layer.gateUp, out: s.hidden, m, glu: true });
      const downIn = this.inOrder(rec, s.hidden, layer.downOrder, m, c.hiddenDim);
      // Likewise the down product for the next layer's attention norm.
      const next = this.layers[i + 1];
      const attnNormOut = next && this.normOut(layer.down, this.normInt8(next.qkv, next.qkvOrder), next.attnNorm);
      this.product(rec, { x: downIn, int8X: hiddenInt8, w: layer.down, out: s.x, m, residual: s.x2, normOut: attnNormOut });
      normed = attnNormOut !== undefined;
    });
  }

  /** The buffers an RMSNorm feeding a product over int8 activations writes (rmsNorm's `int8`). */
  private normOutput(): NormInt8Output {
    const s = this.scratch;
    return { xq: s.normQ, xg: s.normQScales, sums: s.normQSums };
  }

  /**
   * `linear`'s normOut for a residual product whose output feeds an RMSNorm (`weight`) and then a
   * product over int8 activations (`consumer`, from normInt8); W8A8 products keep the dispatch.
   */
  private normOut(producer: LayerMatrix, consumer: Int8Activations | undefined, weight: GPUBuffer) {
    if (!consumer || producer instanceof I8Matrix) return undefined;
    return { weight, eps: this.config.rmsNormEps, out: this.normOutput() };
  }

  /** One of a layer's products: `linear` on a stored weight; W8A8 quantizes x for it first. */
  private product(rec: StepRecorder, a: Omit<LinearArgs, 'w'> & { w: LayerMatrix }): void {
    if (!(a.w instanceof I8Matrix)) {
      linear(rec, { ...a, w: a.w, batchInvariant: this.batchInvariant });
      return;
    }
    const xq = { q: this.scratch.xq, scales: this.scratch.xqScales };
    quantizeActivationsI8(rec, { x: a.x, w: a.w, m: a.m, out: xq });
    linearI8(rec, { ...a, x: xq, w: a.w });
  }

  /** x itself, or (an act-order layer) x's columns gathered in the weight's input order into scratch.xPerm. */
  private inOrder(rec: StepRecorder, x: GPUBuffer, order: GPUBuffer | undefined, m: number, dim: number): GPUBuffer {
    if (!order) return x;
    gatherColumns(rec, { x, order, out: this.scratch.xPerm, count: m, dim });
    return this.scratch.xPerm;
  }

  /** The LM head on `count` rows of scratch.x (packed rows listed in `rows`): logits in scratch.logits. */
  private head(rec: StepRecorder, rows: GPUBuffer, count: number): void {
    const c = this.config;
    const s = this.scratch;
    gatherRows(rec, { src: s.x, rows, out: s.last, srcRows: this.maxStepTokens, count, dim: c.dim });
    const int8 = this.normInt8(this.output, undefined);
    rmsNorm(rec, { x: s.last, weight: this.outputNorm, out: s.xb, rows: count, dim: c.dim, eps: c.rmsNormEps, int8: int8 && this.normOutput() });
    linear(rec, { x: s.xb, int8X: int8, w: this.output, out: s.logits, m: count, batchInvariant: this.batchInvariant });
  }

  /**
   * Where an RMSNorm feeds a product over int8 activations directly (no input order between): the
   * product's int8X, the norm's input times its weight quantized with the scale deferred (written
   * by the norm, or by the residual product before it), so the product skips quantizing.
   */
  private normInt8(w: LayerMatrix, order: GPUBuffer | undefined): Int8Activations | undefined {
    const s = this.scratch;
    return !order && readsInt8(w)
      ? { xq: s.normQ, xg: s.normQScales, norm: { sums: s.normQSums, eps: this.config.rmsNormEps } }
      : undefined;
  }
}

/** Whether a product reads int8 activations (a Q4_0 matrix uploaded for them). */
function readsInt8(w: LayerMatrix): boolean {
  return !(w instanceof I8Matrix) && w.parts.every((p) => p.pairs);
}

/** Whether attention writes the output projection's int8 input (a product over int8 activations, in order). */
function quantizesAttention(l: { wo: LayerMatrix; woOrder?: GPUBuffer | undefined }): boolean {
  return readsInt8(l.wo) && !l.woOrder;
}

/** Whether the layer's gate/up product writes the down product's int8 input (both read int8 activations). */
function quantizesHidden(l: { gateUp: LayerMatrix; down: LayerMatrix; downOrder?: GPUBuffer | undefined }): boolean {
  return readsInt8(l.gateUp) && readsInt8(l.down) && !l.downOrder;
}

function createScratch(
  ctx: GpuContext,
  c: LlamaConfig,
  maxTokens: number,
  maxSeqs: number,
  maxBlocksPerSeq: number,
  inputOrders: boolean,
  i8Words: number,
  normInt8: boolean,
  hiddenInt8: boolean,
  attnInt8: boolean,
): Scratch {
  const f32 = (n: number, label: string) => ctx.createBuffer(Math.max(16, n * 4), label);
  // The inputs of products: room past the last token for the tile kernel's last x window.
  const inRows = maxTokens + LINEAR_X_SLACK_TOKENS;
  // Room past the last token, as for xb, for the product's last uniform window of x.
  const normRows = normInt8 ? Math.max(inRows, maxSeqs) : 0;
  const hiddenRows = hiddenInt8 ? Math.max(inRows, maxSeqs) : 0;
  const attnRows = attnInt8 ? Math.max(inRows, maxSeqs) : 0;
  const attnWidth = c.numHeads * c.headDim;
  return {
    attnQ: f32(attnRows * attnWidth, 'attnQ'),
    attnQScales: f32(Math.ceil((attnRows * attnWidth) / 64) * 4, 'attnQScales'),
    hiddenQ: f32(hiddenRows * c.hiddenDim, 'hiddenQ'),
    hiddenQScales: f32(Math.ceil((hiddenRows * c.hiddenDim) / 64) * 4, 'hiddenQScales'),
    normQ: f32(normRows * c.dim, 'normQ'),
    // (scale, sum) per group of 32, in whole 16-byte units.
    normQScales: f32(Math.ceil((normRows * c.dim) / 64) * 4, 'normQScales'),
    normQSums: f32((normRows * c.dim) / 32, 'normQSums'),
    xq: ctx.createBuffer(Math.max(16, maxTokens * i8Words * 16), 'xq'),
    xqScales: f32(i8Words > 0 ? maxTokens : 0, 'xqScales'),
    xPerm: f32(inputOrders ? inRows * Math.max(c.dim, c.numHeads * c.headDim, c.hiddenDim) : 0, 'xPerm'),
    x: f32(maxTokens * c.dim, 'x'),
    x2: f32(maxTokens * c.dim, 'x2'),
    xb: f32(inRows * c.dim, 'xb'),
    q: f32(maxTokens * c.numHeads * c.headDim, 'q'),
    kv: f32(maxTokens * 2 * c.numKvHeads * c.headDim, 'kv'),
    attn: f32(inRows * c.numHeads * c.headDim, 'attn'),
    hidden: f32(inRows * c.hiddenDim, 'hidden'),
    last: f32(maxSeqs * c.dim, 'last'),
    logits: f32(maxSeqs * c.vocabSize, 'logits'),
    tokens: f32(maxSeqs, 'tokens'),
    ids: f32(maxTokens, 'ids'),
    positions: f32(maxTokens, 'positions'),
    slots: f32(maxTokens, 'slots'),
    queryStarts: f32(maxSeqs + 1, 'queryStarts'),
    contextLens: f32(maxSeqs, 'contextLens'),
    tokenSeqIds: f32(maxTokens, 'tokenSeqIds'),
    sampleRows: f32(maxSeqs, 'sampleRows'),
    blockTables: f32(maxSeqs * maxBlocksPerSeq, 'blockTables'),
    samplingParams: f32(maxSeqs * SAMPLING_PARAMS_WORDS, 'samplingParams'),
    processorRows: f32(maxSeqs * LOGITS_PROCESSOR_ROW_WORDS, 'processorRows'),
  };
}
