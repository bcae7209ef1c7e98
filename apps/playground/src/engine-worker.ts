// The engine in a Web Worker: the same @llm/formats, @llm/model and @llm/engine code as in Node,
// on navigator.gpu. The page posts ToWorker messages and draws what comes back.
import { Engine, type RequestStream, type StepRecord } from '@llm/engine';
import { blobFolder, blobSource, httpRangeSource, type ByteSource, type ModelFolder } from '@llm/formats';
import { GpuContext, measureAdapter, summarizeProfile } from '@llm/kernels';
import { GpuModelRunner, openModelFrom, type ModelInput, type OpenedModel } from '@llm/model';
import { ChatPrompter, ChatTemplate, chatTemplateTokens } from '@llm/tokenizer';
import { grammarOf } from './response-format.js';
import type { FromWorker, ModelFiles, PromptInput, RequestMetrics, SamplingSettings, StepView, ToWorker } from './protocol.js';
import { stepCost, stepCostModel, type SequenceWork, type StepCostModel } from './step-cost.js';

// Eight sequences a step: room for the batch demo's requests (n = 4 and three more) at once.
const MAX_SEQS = 8;
const MAX_STEP_TOKENS = 256;
// Long enough for any chat here; a model's own context may be far longer (the KV pool holds two).
const MAX_MODEL_LEN = 2048;

interface Loaded {
  readonly ctx: GpuContext;
  readonly model: OpenedModel;
  readonly runner: GpuModelRunner;
  readonly engine: Engine;
  readonly prompter: ChatPrompter;
  readonly cost: StepCostModel;
}

let loaded: Loaded | undefined;
let loading: Promise<void> | undefined;
const streams = new Map<string, RequestStream>();
/** Context length of each decoding sequence after its last step: a sequence that finishes leaves the pool before its step is reported. */
const lastContext = new Map<string, number>();
let profileLeft = 0;

function post(message: FromWorker): void {
  self.postMessage(message);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

self.addEventListener('message', (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'load':
      loading = load(message.files).catch((error: unknown) => post({ type: 'error', message: loadFailure(error) }));
      break;
    case 'generate':
      void generate(message.id, message.prompt, message.sampling, message.n);
      break;
    case 'stop':
      streams.get(message.id)?.abort();
      break;
    case 'profile':
      startProfile(message.steps);
      break;
  }
});

/** What the user reads when a model does not load: the engine's typed errors already say what to change. */
function loadFailure(error: unknown): string {
  const text = messageOf(error);
  if (/maxStorageBufferBindingSize|maxBufferSize|exceeds|out of memory|OutOfMemory|KV pool/i.test(text)) {
    return `This model does not fit this adapter's limits: ${text}. Try a smaller or quantized model, or remote mode.`;
  }
  if (/shader-f16|f16/i.test(text)) return `${text}. This adapter has no shader-f16: try an f32 model, or remote mode.`;
  return text;
}

async function inputsOf(files: ModelFiles): Promise<{ input: ModelInput; tokenizer?: ModelInput }> {
  switch (files.kind) {
    case 'single':
      return { input: blobSource(files.model, files.name) };
    case 'llama2c':
      return { input: blobSource(files.model, files.name), tokenizer: blobSource(files.tokenizer, 'tokenizer.bin') };
    case 'folder': {
      // A picked directory names files folder/config.json: the engine asks by file name.
      const byName = new Map(files.files.map((f) => [f.path.slice(f.path.lastIndexOf('/') + 1), f.blob]));
      const folder: ModelFolder = blobFolder(files.name, byName);
      return { input: folder };
    }
    case 'url': {
      const input: ByteSource = await httpRangeSource(files.url);
      if (files.tokenizerUrl === undefined) return { input };
      return { input, tokenizer: await httpRangeSource(files.tokenizerUrl) };
    }
  }
}

async function load(files: ModelFiles): Promise<void> {
  await unload();
  post({ type: 'progress', phase: 'reading the model', done: 0, total: 1 });
  const { input, tokenizer } = await inputsOf(files);
  const model = await openModelFrom(input, tokenizer === undefined ? {} : { tokenizer });
  let ctx: GpuContext | undefined;
  try {
    ctx = await GpuContext.create();
    const config = model.source.config;
    const runner = await GpuModelRunner.load(
      ctx,
      model.source,
      { maxSeqs: MAX_SEQS, maxStepTokens: MAX_STEP_TOKENS, maxModelLen: Math.min(config.contextLength, MAX_MODEL_LEN) },
      (done, total) => post({ type: 'progress', phase: 'uploading weights', done, total }),
    );
    const engine = new Engine(runner, model.tokenizer);
    const tokens = { ...chatTemplateTokens(model.tokenizer), ...(model.chatTemplate?.bosToken === undefined ? {} : { bosToken: model.chatTemplate.bosToken }) };
    const template =
      model.chatTemplate === undefined
        ? ChatTemplate.fallback(tokens)
        : ChatTemplate.fromSource(model.chatTemplate.source, tokens, { name: model.chatTemplate.origin });
    const cost = stepCostModel(config, model.source.tensors, runner.kvDtype === 'f32' ? 4 : 2);
    loaded = { ctx, model, runner, engine, prompter: new ChatPrompter(model.tokenizer, template), cost };
    engine.onStep((record) => onStep(record));
    let weightBytes = 0;
    for (const t of model.source.tensors.values()) weightBytes += t.byteLength;
    post({
      type: 'ready',
      info: {
        name: files.name,
        format: model.format,
        adapter: ctx.adapterName,
        features: Object.entries(ctx.features).filter(([, on]) => on).map(([name]) => name),
        numLayers: config.numLayers,
        dim: config.dim,
        vocabSize: config.vocabSize,
        contextLength: runner.config.contextLength,
        weightBytes,
        numBlocks: runner.numBlocks,
        blockSize: runner.blockSize,
        kvPoolBytes: runner.kvPoolBytes,
        chatTemplate: model.chatTemplate === undefined ? 'fallback' : model.chatTemplate.origin,
        timestampQuery: ctx.features.timestampQuery,
      },
    });
    // A rough roof (well under a second): the measured ceilings the steps are plotted against.
    post({ type: 'roofline', roof: await measureAdapter(ctx.device, { quick: true, maxBufferBytes: 8 << 20, minTimedSeconds: 0.02, runs: 2 }) });
  } catch (error) {
    ctx?.destroy();
    await model.source.close();
    throw error;
  }
}

async function unload(): Promise<void> {
  const previous = loaded;
  loaded = undefined;
  if (!previous) return;
  await previous.engine.close();
  previous.runner.dispose();
  previous.ctx.destroy();
  await previous.model.source.close();
}

function promptIds(l: Loaded, prompt: PromptInput): number[] {
  if (prompt.kind === 'chat') return l.prompter.renderToIds(prompt.messages, { addGenerationPrompt: true });
  // Raw text continues from BOS (what llama2.c's run.c does with an empty prompt).
  return l.model.tokenizer.encode(prompt.text, { addSpecial: true });
}

async function generate(id: string, prompt: PromptInput, sampling: SamplingSettings, n: number): Promise<void> {
  await loading;
  const l = loaded;
  if (!l) {
    post({ type: 'error', id, message: 'no model is loaded: pick a model file first' });
    return;
  }
  const arrivalMs = performance.now();
  let stream: RequestStream;
  try {
    const grammar = grammarOf(sampling);
    stream = l.engine.generate({
      ...(grammar === undefined ? {} : { grammar }),
      promptIds: promptIds(l, prompt),
      maxTokens: sampling.maxTokens,
      n,
      ...(sampling.seed === undefined ? {} : { seed: sampling.seed }),
      sampling: { temperature: sampling.temperature, topP: sampling.topP, topK: sampling.topK, minP: sampling.minP },
    });
  } catch (error) {
    post({ type: 'error', id, message: messageOf(error) });
    return;
  }
  streams.set(id, stream);
  try {
    for await (const delta of stream) {
      post({
        type: 'delta',
        id,
        index: delta.index,
        text: delta.text,
        ...(delta.finishReason === undefined ? {} : { finishReason: delta.finishReason }),
      });
    }
    const result = await stream.result();
    post({ type: 'done', id, metrics: metricsOf(result, arrivalMs) });
  } catch (error) {
    post({ type: 'error', id, message: messageOf(error) });
  } finally {
    streams.delete(id);
  }
}

function metricsOf(result: Awaited<ReturnType<RequestStream['result']>>, arrivalMs: number): RequestMetrics {
  const times = result.completions.flatMap((c) => c.tokenTimesMs);
  const first = result.metrics.firstTokenMs;
  const gaps = result.completions.flatMap((c) => c.tokenTimesMs.slice(1).map((t, i) => t - c.tokenTimesMs[i]!));
  const last = times.length > 0 ? Math.max(...times) : undefined;
  const decodeMs = first !== undefined && last !== undefined ? last - first : 0;
  return {
    promptTokens: result.usage.promptTokens,
    completionTokens: result.usage.completionTokens,
    cachedPromptTokens: result.cachedPromptTokens,
    ttftMs: first === undefined ? undefined : first - arrivalMs,
    itlMs: gaps.length > 0 ? gaps.reduce((a, b) => a + b, 0) / gaps.length : undefined,
    tokensPerSecond: decodeMs > 0 ? ((result.usage.completionTokens - result.completions.length) * 1000) / decodeMs : undefined,
    totalMs: result.metrics.finishedMs - arrivalMs,
  };
}

function onStep(record: StepRecord): void {
  const l = loaded;
  if (!l) return;
  const kv = l.engine.kv;
  // A prefill chunk ends at startPos + tokens; a decode's one token ends where the sequence now ends.
  const work: SequenceWork[] = [
    ...record.prefill.map((p) => ({ tokens: p.tokens, contextAfter: p.startPos + p.tokens })),
    ...record.decode.map((seqId) => ({ tokens: 1, contextAfter: kv.has(seqId) ? kv.numTokens(seqId) : (lastContext.get(seqId) ?? 0) + 1 })),
  ];
  lastContext.clear();
  for (const seqId of [...record.decode, ...record.prefill.map((p) => p.seqId)]) {
    if (kv.has(seqId)) lastContext.set(seqId, kv.numTokens(seqId));
  }
  const { flops, bytes } = stepCost(l.cost, work, record.sampled.length);
  const blocks = kv.blockMap().map((b) => ({
    s: b.state === 'free' ? ('f' as const) : b.state === 'used' ? ('u' as const) : ('c' as const),
    o: b.owners.map(String),
  }));
  const step: StepView = {
    step: record.step,
    wallMs: record.wallMs,
    prefill: record.prefill.map(({ seqId, tokens }) => ({ seqId, tokens })),
    decode: record.decode,
    copies: record.copies,
    blocks,
    usage: record.kv.usage,
    flops,
    bytes,
    numRunning: record.numRunning,
    numWaiting: record.numWaiting,
  };
  post({ type: 'step', step });
  if (profileLeft > 0 && --profileLeft === 0) void finishProfile(l);
}

let profileSteps = 0;

function startProfile(steps: number): void {
  const l = loaded;
  if (!l || l.ctx.profiling) return;
  if (!l.ctx.features.timestampQuery) {
    post({ type: 'error', message: "this adapter has no timestamp-query: the roofline's points use each step's wall time" });
    return;
  }
  l.ctx.startProfile();
  profileLeft = profileSteps = steps;
}

async function finishProfile(l: Loaded): Promise<void> {
  const profile = await l.ctx.stopProfile();
  const summary = summarizeProfile(profile, Math.max(1, profile.steps));
  post({
    type: 'profile',
    steps: profile.steps || profileSteps,
    gpuMsPerStep: summary.gpuMsPerToken,
    kernels: summary.kinds.map((k) => ({ kind: k.kind, msPerStep: k.msPerToken, share: k.share })),
  });
}
