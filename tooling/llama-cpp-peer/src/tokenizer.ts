import { existsSync } from 'node:fs';
import type { LlamaModel, Token } from 'node-llama-cpp';
import { LlamaCppPeerError, PeerInputError, PeerUnavailableError } from './errors.js';
import { describeFailure, sharedRuntime, takeNativeErrors, type PeerRuntime } from './llama-runtime.js';

export interface TokenizeOptions {
  /** Add BOS / EOS as the model's add_bos_token / add_eos_token flags ask (llama.cpp's add_special). */
  addSpecial: boolean;
}

/** llama.cpp's tokenizer for one GGUF vocabulary. */
export interface PeerTokenizer {
  /** Tokens in the model's vocabulary; valid ids are 0..vocabSize-1. */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** llama.cpp's tokenizer with special-token text left as plain text (parse_special false). */
  tokenize(text: string, options: TokenizeOptions): number[];
  /** llama.cpp's detokenizer; special tokens render as nothing. */
  detokenize(ids: readonly number[]): string;
  close(): Promise<void>;
}

/**
 * Loads only the vocabulary of a GGUF file (vocabulary-only files included, e.g. llama.cpp's
 * ggml-vocab-*.gguf test files). Throws PeerUnavailableError when llama.cpp cannot run here.
 */
export async function openPeerTokenizer(ggufPath: string): Promise<PeerTokenizer> {
  const model = await loadModel(ggufPath, await sharedRuntime('cpu'), { vocabOnly: true });
  return new LlamaCppTokenizer(model);
}

/**
 * Shared by the tokenizer and the full peer: mmap; on the Vulkan backend every layer is offloaded
 * to the device, and a model that would run partly on the CPU is refused.
 */
export async function loadModel(
  ggufPath: string,
  runtime: PeerRuntime,
  options: { vocabOnly: boolean },
): Promise<LlamaModel> {
  if (!existsSync(ggufPath)) {
    throw new PeerInputError(`model file ${ggufPath} does not exist; pass the path of a GGUF file`);
  }
  const offload = runtime.backend === 'vulkan' && !options.vocabOnly;
  takeNativeErrors();
  let model: LlamaModel;
  try {
    model = await runtime.llama.loadModel({
      modelPath: ggufPath,
      useMmap: true,
      gpuLayers: offload ? 'max' : 0,
      vocabOnly: options.vocabOnly,
    });
    takeNativeErrors();
  } catch (error) {
    throw new LlamaCppPeerError(`llama.cpp could not load ${ggufPath}: ${describeFailure(error)}`, {
      cause: error,
    });
  }
  const layers = model.fileInsights.totalLayers;
  if (offload && model.gpuLayers !== layers) {
    await model.dispose();
    throw new PeerUnavailableError(
      `llama.cpp offloaded ${model.gpuLayers} of ${layers} layers of ${ggufPath} to ${runtime.deviceName}; ` +
        'the Vulkan peer runs only models that fit the device whole',
    );
  }
  return model;
}

export class LlamaCppTokenizer implements PeerTokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  protected closed = false;

  constructor(protected readonly model: LlamaModel) {
    this.vocabSize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    this.bosId = model.tokens.bos ?? undefined;
    this.eosId = model.tokens.eos ?? undefined;
  }

  tokenize(text: string, options: TokenizeOptions): number[] {
    this.checkOpen();
    const ids: number[] = this.model.tokenize(text, false);
    if (!options.addSpecial) return ids;
    const { tokens } = this.model;
    if (tokens.shouldPrependBosToken && tokens.bos !== null) ids.unshift(tokens.bos);
    if (tokens.shouldAppendEosToken && tokens.eos !== null) ids.push(tokens.eos);
    return ids;
  }

  detokenize(ids: readonly number[]): string {
    this.checkOpen();
    return this.model.detokenize(this.checkIds(ids, 'ids'), false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.model.dispose();
  }

  protected checkOpen(): void {
    if (this.closed) throw new PeerInputError('this peer is closed; open a new one');
  }

  // llama.cpp aborts the whole process on an out-of-range token id, so ids are checked here.
  protected checkIds(ids: readonly number[], what: string): Token[] {
    ids.forEach((id, index) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new PeerInputError(
          `${what}[${index}] = ${id} is not a token id of this model (0..${this.vocabSize - 1})`,
        );
      }
    });
    return ids.slice() as Token[];
  }
}
