import { packLogitsProcessors, reference } from '@llm/kernels';
import { type GpuKvDtype } from '@llm/quant';
import { f16ArrayToF32, f32ArrayToF16, hadamardTransform, LlmError, roundTripKvI4, roundTripKvI8 } from '@llm/quant';
import type { LlamaConfig, WeightSource } from '@llm/formats';
import {
  BatchShapeError,
  checkSampleChunks,
  logitRows,
  packBatchWithin,
  previousSampleRows,
  type PackedBatch,
  type SequenceChunk,
} from './forward-batch.js';
import { readHostModel } from './layer-weights.js';
import { matrixF32, type HostMatrix } from './load-weights.js';
import type { LinearInputsHook, LinearWeight } from './linear-inputs.js';
import type { BlockCopy, LogitsOptions, ModelRunner, SampleRequest, StepOptions, StepResult, SwapCopy } from './model-runner.js';
import { resolveRunnerOptions, type ResolvedRunnerOptions, type RunnerOptions } from './runner-options.js';

interface CpuLayer {
  attnNorm: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  bq: Float32Array | undefined;
  bk: Float32Array | undefined;
  bv: Float32Array | undefined;
  wo: Float32Array;
  ffnNorm: Float32Array;
  gateUp: Float32Array;
  down: Float32Array;
  kCache: Float32Array;
  vCache: Float32Array;
}

// The reference runner multiplies f32 values: block types are decoded at load with the codecs.
const f32 = (m: HostMatrix): Float32Array => matrixF32(m);

/**
 * The forward pass on the CPU, built from the kernels' references (f64 accumulation): the ground
 * truth the WebGPU runner is checked against, and a fallback for tiny models without an adapter.
 */
export class CpuModelRunner implements ModelRunner {
  readonly backend = 'cpu';
  readonly adapterName = 'cpu reference';
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly maxStepTokens: number;
  readonly maxSeqs: number;
  readonly kvDtype: GpuKvDtype;
  /** Swapped-out blocks: every layer's K and V block, by host block. */
  private readonly hostBlocks = new Map<number, Float32Array[]>();
  /** Steps run one after another, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The last step's sampled ids: what the next step's previousSamples take. */
  private lastTokens: Uint32Array = new Uint32Array(0);

  private constructor(
    readonly config: LlamaConfig,
    private readonly tokenEmbedding: Float32Array,
    private readonly output: Float32Array,
    private readonly outputNorm: Float32Array,
    private readonly ropeFactors: Float32Array | undefined,
    private readonly layers: CpuLayer[],
    options: ResolvedRunnerOptions,
  ) {
    this.blockSize = options.blockSize;
    this.numBlocks = options.numBlocks;
    this.maxStepTokens = options.maxStepTokens;
    this.maxSeqs = options.maxSeqs;
    this.kvDtype = options.kvDtype;
  }

  static async load(
    source: WeightSource,
    options: RunnerOptions = {},
    onProgress?: (done: number, total: number) => void,
  ): Promise<CpuModelRunner> {
    const opts = resolveRunnerOptions(source.config, options);
    if (opts.w8a8) throw new LlmError('unsupported', 'W8A8 runs on the webgpu runner only');
    const config = opts.config;
    const kvFloats = opts.numBlocks * opts.blockSize * config.numKvHeads * config.headDim;
    const { model, layers } = await readHostModel(
      source,
      (w): CpuLayer => ({
        attnNorm: w.attnNorm,
        wq: f32(w.wq),
        wk: f32(w.wk),
        wv: f32(w.wv),
        bq: w.bq,
        bk: w.bk,
        bv: w.bv,
        wo: f32(w.wo),
        ffnNorm: w.ffnNorm,
        gateUp: f32(w.gateUp),
        down: f32(w.down),
        kCache: new Float32Array(kvFloats),
        vCache: new Float32Array(kvFloats),
      }),
      onProgress,
    );
    const tokenEmbedding = f32(model.tokenEmbedding);
    const output = model.output ? f32(model.output) : tokenEmbedding;
    const { outputNorm, ropeFactors } = model;
    return new CpuModelRunner(config, tokenEmbedding, output, outputNorm, ropeFactors, layers, opts);
  }

  step(chunks: readonly SequenceChunk[], samples: readonly SampleRequest[], options: StepOptions = {}): Promise<StepResult> {
    const run = this.queue.then(() => this.run(chunks, samples, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(
    chunks: readonly SequenceChunk[],
    samples: readonly SampleRequest[],
    options: StepOptions,
  ): Promise<StepResult> {
    const batch = this.pack(chunks);
    checkSampleChunks(samples, chunks.length);
    const kept = { first: 0, count: this.lastTokens.length };
    for (const { row, kept: k } of previousSampleRows(options.previousSamples ?? [], chunks, batch, kept)) {
      batch.tokenIds[row] = this.lastTokens[k]!;
    }
    for (const { gpuBlock, hostBlock } of options.swapIn ?? []) {
      const held = this.hostBlocks.get(hostBlock);
      if (!held) throw new BatchShapeError(`host block ${hostBlock} holds nothing swapped out`);
      this.hostBlocks.delete(hostBlock);
      const floats = this.blockSize * this.config.numKvHeads * this.config.headDim;
      this.layers.forEach((layer, l) => {
        layer.kCache.set(held[2 * l]!, gpuBlock * floats);
        layer.vCache.set(held[2 * l + 1]!, gpuBlock * floats);
      });
    }
    if (options.copies) await this.copyBlocks(options.copies);
    const x = this.forward(batch);
    const rows = Uint32Array.from(samples, (r) => batch.lastRows[r.chunk]!);
    const logits = this.head(x, rows);
    const vocab = this.config.vocabSize;
    const n = samples.length;
    const raw = samples.some((r) => r.logprobs !== undefined) ? logits.slice() : logits;
    // Validates the settings as the GPU runner's packing does, then applies them.
    packLogitsProcessors(samples.map((r) => r.processors ?? {}), vocab);
    reference.applyLogitsProcessors(logits, vocab, samples.map((r) => r.processors ?? {}));
    for (const [i, r] of samples.entries()) {
      if (!r.tokenMask) continue;
      const mask = await r.tokenMask();
      if (mask.length !== Math.ceil(vocab / 32)) {
        throw new BatchShapeError(`sample ${i}'s token mask has ${mask.length} words; vocab ${vocab} needs ${Math.ceil(vocab / 32)}`);
      }
      reference.applyTokenMask(logits, vocab, mask, [i]);
    }
    const tokens = samples.every((r) => r.params.temperature <= 0)
      ? reference.argmax(logits, n, vocab)
      : reference.sample(logits, n, vocab, samples.map((r) => ({ ...r.params, u: r.u })));
    const top = Math.max(0, ...samples.map((r) => r.logprobs ?? 0));
    const lp = raw === logits ? [] : reference.topLogprobs(raw, n, vocab, tokens, top);
    this.lastTokens = tokens;
    return {
      tokens,
      logprobs: samples.map((r, i) =>
        r.logprobs === undefined ? undefined : { ...lp[i]!, top: lp[i]!.top.slice(0, r.logprobs) },
      ),
    };
  }

  async logits(chunks: readonly SequenceChunk[], options: LogitsOptions = {}): Promise<Float32Array> {
    const batch = this.pack(chunks);
    const rows = logitRows(batch, options.rows);
    return this.head(this.forward(batch), rows);
  }

  /**
   * Runs `chunks` through the model, calling `hook` with the inputs of every linear layer (and of
   * the output projection, unless it is the tied token embedding) before the layer is applied.
   * A hook may overwrite the weights it is handed; the pass goes on with them, so each layer sees
   * the inputs the earlier layers, as changed, produce (GPTQ's sequential calibration). The
   * runner keeps the changed weights. `onTokenEmbedding` may change the token embedding (also the
   * output projection when the two are tied) before the pass starts.
   */
  async captureLinearInputs(
    chunks: readonly SequenceChunk[],
    hook: LinearInputsHook,
    onTokenEmbedding?: (embedding: LinearWeight) => void,
  ): Promise<void> {
    const batch = this.pack(chunks);
    onTokenEmbedding?.({ name: 'token_embd.weight', rows: this.config.vocabSize, values: this.tokenEmbedding });
    const x = this.forward(batch, hook);
    const c = this.config;
    if (this.output === this.tokenEmbedding) return;
    const normed = reference.rmsNorm({ x, weight: this.outputNorm, rows: batch.numTokens, dim: c.dim, eps: c.rmsNormEps });
    hook({
      layer: undefined,
      weights: [{ name: 'output.weight', rows: c.vocabSize, values: this.output }],
      inputs: normed,
      tokens: batch.numTokens,
      cols: c.dim,
    });
  }

  async copyBlocks(copies: readonly BlockCopy[]): Promise<void> {
    const blockFloats = this.blockSize * this.config.numKvHeads * this.config.headDim;
    for (const layer of this.layers) {
      for (const { src, dst } of copies) {
        layer.kCache.copyWithin(dst * blockFloats, src * blockFloats, (src + 1) * blockFloats);
        layer.vCache.copyWithin(dst * blockFloats, src * blockFloats, (src + 1) * blockFloats);
      }
    }
  }

  async swapOut(copies: readonly SwapCopy[]): Promise<void> {
    const floats = this.blockSize * this.config.numKvHeads * this.config.headDim;
    for (const { gpuBlock, hostBlock } of copies) {
      const at = gpuBlock * floats;
      this.hostBlocks.set(
        hostBlock,
        this.layers.flatMap((layer) => [layer.kCache.slice(at, at + floats), layer.vCache.slice(at, at + floats)]),
      );
    }
  }

  deviceLost(): undefined {
    return undefined;
  }

  dispose(): void {}

  private pack(chunks: readonly SequenceChunk[]): PackedBatch {
    return packBatchWithin(chunks, this);
  }

  /** The forward pass through the last layer: the hidden state of every packed token. */
  private forward(batch: PackedBatch, hook?: LinearInputsHook): Float32Array {
    const c = this.config;
    const m = batch.numTokens;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const x = reference.embedding(this.tokenEmbedding, batch.tokenIds, c.dim);
    const xb = new Float32Array(m * c.dim);
    const x2 = new Float32Array(m * c.dim);
    const q = new Float32Array(m * qDim);
    const k = new Float32Array(m * kvDim);
    const v = new Float32Array(m * kvDim);
    const attn = new Float32Array(m * qDim);
    const gateUp = new Float32Array(m * 2 * c.hiddenDim);
    const hidden = new Float32Array(m * c.hiddenDim);
    const site = (layer: number, names: readonly string[], weights: readonly Float32Array[], inputs: Float32Array, cols: number) =>
      hook?.({
        layer,
        weights: weights.map((values, i) => ({ name: `blk.${layer}.${names[i]!}.weight`, rows: values.length / cols, values })),
        inputs,
        tokens: m,
        cols,
      });
    for (const [l, layer] of this.layers.entries()) {
      reference.rmsNorm({ x, weight: layer.attnNorm, out: xb, rows: m, dim: c.dim, eps: c.rmsNormEps });
      site(l, ['attn_q', 'attn_k', 'attn_v'], [layer.wq, layer.wk, layer.wv], xb, c.dim);
      reference.linear({ x: xb, w: layer.wq, m, n: qDim, k: c.dim, bias: layer.bq, out: q });
      reference.linear({ x: xb, w: layer.wk, m, n: kvDim, k: c.dim, bias: layer.bk, out: k });
      reference.linear({ x: xb, w: layer.wv, m, n: kvDim, k: c.dim, bias: layer.bv, out: v });
      reference.rope({
        q,
        k,
        positions: batch.positions,
        tokens: m,
        numHeads: c.numHeads,
        numKvHeads: c.numKvHeads,
        headDim: c.headDim,
        theta: c.ropeTheta,
        layout: c.ropeLayout,
        freqFactors: this.ropeFactors,
        positionScale: c.ropeScaling.type === 'linear' ? 1 / c.ropeScaling.factor : undefined,
      });
      if (this.kvDtype === 'i4') {
        // An i4 pool holds K rotated, and the queries are rotated to match (see the GPU runner).
        for (let at = 0; at < q.length; at += c.headDim) hadamardTransform(q, at, c.headDim, 1 / c.headDim);
        for (let at = 0; at < k.length; at += c.headDim) hadamardTransform(k, at, c.headDim);
      }
      // An f16 pool holds each K and V element rounded to f16, an i8 pool each (token, KV head) row
      // quantized with its scale, an i4 pool each row's groups with theirs, as the GPU runner's
      // does (its kv-write quantizes bit for bit so).
      const held = (x: Float32Array) =>
        this.kvDtype === 'f16'
          ? f16ArrayToF32(f32ArrayToF16(x))
          : this.kvDtype === 'i8'
            ? roundTripKvI8(x, c.headDim)
            : this.kvDtype === 'i4'
              ? roundTripKvI4(x, c.headDim)
              : x;
      reference.kvWrite(
        held(k),
        held(v),
        batch.slots,
        { numKvHeads: c.numKvHeads, headDim: c.headDim, blockSize: this.blockSize },
        layer.kCache,
        layer.vCache,
      );
      reference.pagedAttention({
        q,
        kCache: layer.kCache,
        vCache: layer.vCache,
        blockTables: batch.blockTables,
        queryStarts: batch.queryStarts,
        contextLens: batch.contextLens,
        numHeads: c.numHeads,
        numKvHeads: c.numKvHeads,
        headDim: c.headDim,
        blockSize: this.blockSize,
        maxBlocksPerSeq: batch.maxBlocksPerSeq,
        scale: 1 / Math.sqrt(c.headDim),
        out: attn,
      });
      site(l, ['attn_output'], [layer.wo], attn, qDim);
      reference.linear({ x: attn, w: layer.wo, m, n: c.dim, k: qDim, residual: x, out: x2 });
      reference.rmsNorm({ x: x2, weight: layer.ffnNorm, out: xb, rows: m, dim: c.dim, eps: c.rmsNormEps });
      const gateFloats = c.hiddenDim * c.dim;
      site(l, ['ffn_gate', 'ffn_up'], [layer.gateUp.subarray(0, gateFloats), layer.gateUp.subarray(gateFloats)], xb, c.dim);
      reference.linear({ x: xb, w: layer.gateUp, m, n: 2 * c.hiddenDim, k: c.dim, out: gateUp });
      reference.siluMul({ gateUp, tokens: m, hidden: c.hiddenDim, out: hidden });
      site(l, ['ffn_down'], [layer.down], hidden, c.hiddenDim);
      reference.linear({ x: hidden, w: layer.down, m, n: c.dim, k: c.hiddenDim, residual: x2, out: x });
    }
    return x;
  }

  /** The LM head on the listed rows of the hidden states: [rows.length, vocabSize] logits. */
  private head(x: Float32Array, rows: Uint32Array): Float32Array {
    const c = this.config;
    const last = reference.gatherRows(x, rows, c.dim);
    const normed = reference.rmsNorm({ x: last, weight: this.outputNorm, rows: rows.length, dim: c.dim, eps: c.rmsNormEps });
    return reference.linear({ x: normed, w: this.output, m: rows.length, n: c.vocabSize, k: c.dim });
  }
}
