// Messages between the page and the engine's Web Worker. Files travel as Blobs: posting one hands
// the worker a reference to the same bytes, which it reads in slices, never whole.
import type { AdapterRoofline } from '@llm/kernels';

/** What the page hands the worker to open: one of the model layouts the engine reads. */
export type ModelFiles =
  | { readonly kind: 'single'; readonly name: string; readonly model: Blob }
  | { readonly kind: 'llama2c'; readonly name: string; readonly model: Blob; readonly tokenizer: Blob }
  | { readonly kind: 'folder'; readonly name: string; readonly files: readonly { readonly path: string; readonly blob: Blob }[] }
  | { readonly kind: 'url'; readonly name: string; readonly url: string; readonly tokenizerUrl?: string };

export interface SamplingSettings {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  maxTokens: number;
  /** undefined: a fresh seed per request. */
  seed: number | undefined;
  /** Free text, any JSON object, or JSON valid for `jsonSchema` (enforced token by token by a grammar). */
  responseFormat: ResponseFormat;
  /** The JSON Schema's text, for `responseFormat` 'json_schema'. */
  jsonSchema: string;
}

export type ResponseFormat = 'text' | 'json_object' | 'json_schema';

export interface ChatTurn {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** A chat (rendered with the model's chat template) or raw text continued from BOS. */
export type PromptInput =
  | { readonly kind: 'chat'; readonly messages: readonly ChatTurn[] }
  | { readonly kind: 'text'; readonly text: string };

export type ToWorker =
  | { readonly type: 'load'; readonly files: ModelFiles }
  | {
      readonly type: 'generate';
      readonly id: string;
      readonly prompt: PromptInput;
      readonly sampling: SamplingSettings;
      readonly n: number;
    }
  | { readonly type: 'stop'; readonly id: string }
  | { readonly type: 'profile'; readonly steps: number };

export interface ModelInfo {
  readonly name: string;
  readonly format: string;
  readonly adapter: string;
  readonly features: readonly string[];
  readonly numLayers: number;
  readonly dim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly weightBytes: number;
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly kvPoolBytes: number;
  readonly chatTemplate: string;
  readonly timestampQuery: boolean;
}

/** One block of the KV pool: 'f' free, 'u' used, 'c' cached (unreferenced, reusable on a prefix hit). */
export interface BlockView {
  readonly s: 'f' | 'u' | 'c';
  /** Sequences holding it. */
  readonly o: readonly string[];
}

export interface StepView {
  readonly step: number;
  readonly wallMs: number;
  readonly prefill: readonly { readonly seqId: string; readonly tokens: number }[];
  readonly decode: readonly string[];
  readonly copies: readonly { readonly src: number; readonly dst: number }[];
  readonly blocks: readonly BlockView[];
  readonly usage: number;
  /** Model FLOPs and bytes moved by the step, from the model's shape and the sequences' lengths. */
  readonly flops: number;
  readonly bytes: number;
  readonly numRunning: number;
  readonly numWaiting: number;
}

export interface RequestMetrics {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedPromptTokens: number;
  /** Time to first token. */
  readonly ttftMs: number | undefined;
  /** Mean time between tokens of a completion after its first. */
  readonly itlMs: number | undefined;
  readonly tokensPerSecond: number | undefined;
  readonly totalMs: number;
}

export interface KernelTime {
  readonly kind: string;
  readonly msPerStep: number;
  readonly share: number;
}

export type FromWorker =
  | { readonly type: 'progress'; readonly phase: string; readonly done: number; readonly total: number }
  | { readonly type: 'ready'; readonly info: ModelInfo }
  | { readonly type: 'roofline'; readonly roof: AdapterRoofline }
  | { readonly type: 'error'; readonly message: string; readonly id?: string }
  | { readonly type: 'delta'; readonly id: string; readonly index: number; readonly text: string; readonly finishReason?: string }
  | { readonly type: 'done'; readonly id: string; readonly metrics: RequestMetrics }
  | { readonly type: 'step'; readonly step: StepView }
  | { readonly type: 'profile'; readonly kernels: readonly KernelTime[]; readonly steps: number; readonly gpuMsPerStep: number };
