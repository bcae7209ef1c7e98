import type { LlamaConfig, WeightSource } from '@llm/formats';
import { layerTensor, readF32, readMatrix, stackRows, type HostMatrix } from './load-weights.js';

/** One transformer layer's weights as read from the file, before a backend takes them. */
export interface HostLayer {
  readonly attnNorm: Float32Array;
  readonly wq: HostMatrix;
  readonly wk: HostMatrix;
  readonly wv: HostMatrix;
  readonly bq: Float32Array | undefined;
  readonly bk: Float32Array | undefined;
  readonly bv: Float32Array | undefined;
  readonly wo: HostMatrix;
  readonly ffnNorm: Float32Array;
  /** gate rows [0, H) then up rows [H, 2H): one projection feeds siluMul. */
  readonly gateUp: HostMatrix;
  readonly down: HostMatrix;
}

export interface HostModel {
  readonly config: LlamaConfig;
  readonly tokenEmbedding: HostMatrix;
  /** Undefined when the output projection is tied to the token embedding. */
  readonly output: HostMatrix | undefined;
  readonly outputNorm: Float32Array;
  readonly ropeFactors: Float32Array | undefined;
}

async function optionalF32(source: WeightSource, name: string): Promise<Float32Array | undefined> {
  return source.tensors.has(name) ? readF32(source, name) : undefined;
}

export async function readHostLayer(source: WeightSource, layer: number): Promise<HostLayer> {
  const t = (name: string) => layerTensor(layer, name);
  return {
    attnNorm: await readF32(source, t('attn_norm.weight')),
    wq: await readMatrix(source, t('attn_q.weight')),
    wk: await readMatrix(source, t('attn_k.weight')),
    wv: await readMatrix(source, t('attn_v.weight')),
    bq: await optionalF32(source, t('attn_q.bias')),
    bk: await optionalF32(source, t('attn_k.bias')),
    bv: await optionalF32(source, t('attn_v.bias')),
    wo: await readMatrix(source, t('attn_output.weight')),
    ffnNorm: await readF32(source, t('ffn_norm.weight')),
    gateUp: stackRows([await readMatrix(source, t('ffn_gate.weight')), await readMatrix(source, t('ffn_up.weight'))]),
    down: await readMatrix(source, t('ffn_down.weight')),
  };
}

/**
 * Reads a model layer by layer, handing each layer to `takeLayer` before reading the next, so a
 * backend can upload and drop it: the host never holds the whole model at once.
 */
export async function readHostModel<L>(
  source: WeightSource,
  takeLayer: (layer: HostLayer, index: number) => L,
  onProgress?: (done: number, total: number) => void,
): Promise<{ model: HostModel; layers: L[] }> {
  const config = source.config;
  const total = config.numLayers + 2;
  const tokenEmbedding = await readMatrix(source, 'token_embd.weight');
  onProgress?.(1, total);
  const layers: L[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    layers.push(takeLayer(await readHostLayer(source, l), l));
    onProgress?.(l + 2, total);
  }
  const model: HostModel = {
    config,
    tokenEmbedding,
    output: config.tiedEmbeddings ? undefined : await readMatrix(source, 'output.weight'),
    outputNorm: await readF32(source, 'output_norm.weight'),
    ropeFactors: await optionalF32(source, 'rope_freqs.weight'),
  };
  onProgress?.(total, total);
  return { model, layers };
}
