/** One weight matrix of a linear layer, as the CPU runner holds it. */
export interface LinearWeight {
  /** The tensor's GGUF name (`blk.0.attn_q.weight`, `output.weight`). */
  readonly name: string;
  readonly rows: number;
  /**
   * [rows, cols] f32 values, row-major, in the model's own RoPE layout: the runner's own copy,
   * which a hook may overwrite (with quantized values) before the layer reads it.
   */
  readonly values: Float32Array;
}

/**
 * The inputs of the linear layers that read the same activations (Q, K and V; gate and up), at
 * the point of a forward pass where they are about to be applied.
 */
export interface LinearInputs {
  /** The transformer layer; undefined for the output projection. */
  readonly layer: number | undefined;
  readonly weights: readonly LinearWeight[];
  /** [tokens, cols] activations, row-major. */
  readonly inputs: Float32Array;
  readonly tokens: number;
  readonly cols: number;
}

export type LinearInputsHook = (site: LinearInputs) => void;
