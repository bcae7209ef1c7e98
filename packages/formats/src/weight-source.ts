import type { TensorDtype } from '@llm/quant';

/**
 * The format-neutral view of a Llama-family checkpoint that every reader (GGUF, safetensors,
 * llama2.c) produces and the forward pass consumes.
 *
 * Tensor names follow GGUF's llama naming (`token_embd.weight`, `blk.N.attn_q.weight`, ...),
 * shapes are row-major with the outermost dimension first (PyTorch order: a projection is
 * [outFeatures, inFeatures]).
 */

export interface TensorInfo {
  readonly name: string;
  /** A float type, or a ggml block type (`q8_0`, `q4_k`, ...) whose blocks `read` returns as stored. */
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /**
   * Set for a matrix whose columns are stored in another order than the model's input features
   * (an act-order GPTQ layer, its columns sorted by group): stored column i is input feature
   * inputOrder[i]. A product with it gathers x in this order first; decoding it to the model's
   * order scatters the columns back (`restoreInputOrder`).
   */
  readonly inputOrder?: Uint32Array;
}

/** How RoPE pairs the dimensions of a head: (x[2i], x[2i+1]) or (x[i], x[i + d/2]). */
export type RopeLayout = 'adjacent' | 'halfSplit';

export interface RopeScaling {
  readonly type: 'none' | 'linear' | 'yarn' | 'llama3';
  /** Positions are multiplied by 1 / factor for linear scaling. */
  readonly factor: number;
  readonly originalContextLength?: number;
}

export interface LlamaConfig {
  /** Architecture name as GGUF spells it (`llama`, `qwen2`, ...). */
  readonly architecture: string;
  readonly vocabSize: number;
  /** Embedding width (d_model). */
  readonly dim: number;
  /** Feed-forward inner width. */
  readonly hiddenDim: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly contextLength: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeLayout: RopeLayout;
  readonly ropeScaling: RopeScaling;
  /** Output projection shares the token embedding (no `output.weight`). */
  readonly tiedEmbeddings: boolean;
  /** Q, K and V projections carry biases (Qwen2). */
  readonly qkvBias: boolean;
}

export interface WeightSource {
  readonly config: LlamaConfig;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /**
   * Reads one tensor: f32 tensors as Float32Array, f16 as Uint16Array of IEEE half bits,
   * bf16 as Uint16Array of bfloat16 bits, block-quantized types (GGUF) as Uint8Array of the
   * blocks as stored (decode them with @llm/quant's codecs). Positioned reads: never the whole
   * file at once.
   */
  read(name: string): Promise<Float32Array | Uint16Array | Uint8Array>;
  close(): Promise<void>;
}
