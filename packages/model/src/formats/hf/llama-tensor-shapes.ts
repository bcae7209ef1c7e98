import type { LlamaConfig } from '../weight-source.js';

/**
 * Every tensor a Llama-family checkpoint must hold, by GGUF name, with its row-major shape
 * (outermost first). Biases appear only for qkvBias models, output.weight only when untied.
 */
export function llamaTensorShapes(config: LlamaConfig): Map<string, readonly number[]> {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, vocabSize } = config;
  const shapes = new Map<string, readonly number[]>([['token_embd.weight', [vocabSize, dim]]]);
  for (let layer = 0; layer < config.nLayers; layer++) {
    const blk = `blk.${layer}`;
    shapes.set(`${blk}.attn_norm.weight`, [dim]);
    shapes.set(`${blk}.attn_q.weight`, [nHeads * headDim, dim]);
    shapes.set(`${blk}.attn_k.weight`, [nKvHeads * headDim, dim]);
    shapes.set(`${blk}.attn_v.weight`, [nKvHeads * headDim, dim]);
    if (config.qkvBias) {
      shapes.set(`${blk}.attn_q.bias`, [nHeads * headDim]);
      shapes.set(`${blk}.attn_k.bias`, [nKvHeads * headDim]);
      shapes.set(`${blk}.attn_v.bias`, [nKvHeads * headDim]);
    }
    shapes.set(`${blk}.attn_output.weight`, [dim, nHeads * headDim]);
    shapes.set(`${blk}.ffn_norm.weight`, [dim]);
    shapes.set(`${blk}.ffn_gate.weight`, [hiddenDim, dim]);
    shapes.set(`${blk}.ffn_up.weight`, [hiddenDim, dim]);
    shapes.set(`${blk}.ffn_down.weight`, [dim, hiddenDim]);
  }
  shapes.set('output_norm.weight', [dim]);
  if (!config.tiedEmbeddings) shapes.set('output.weight', [vocabSize, dim]);
  return shapes;
}
