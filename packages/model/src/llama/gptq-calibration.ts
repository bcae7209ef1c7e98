import {
  blockCodec,
  dequantize,
  f16ArrayToF32,
  f32ArrayToF16,
  GPTQ_TYPES,
  gptqGrid,
  gptqHessianFactor,
  gptqQuantize,
  HessianAccumulator,
  isOneOf,
  GptqError,
  quantize,
  quantizableTypes,
  type BlockDtype,
  type TensorDtype,
} from '@llm/quant';
import type { WeightSource } from '@llm/formats';
import { calibrationPass } from './calibration-pass.js';
import type { LinearInputs, LinearWeight } from './linear-inputs.js';

export interface GptqCalibrationOptions {
  /**
   * The type each weight matrix is stored in (a mix's choice, by GGUF name and [rows, cols]).
   * Matrices of a type GPTQ writes, whose rows are whole blocks of it, are quantized with GPTQ;
   * the others are rounded to their type (block types by their codec, f16) for the pass, so later
   * layers are calibrated on what the written model computes.
   */
  readonly typeOf: (name: string, shape: readonly [rows: number, cols: number]) => TensorDtype;
  /** GPTQ's group: see `GptqOptions.groupSize` of @llm/quant. */
  readonly groupSize?: number;
  /** Fraction of H's mean diagonal added to it; 0.01 as the reference. */
  readonly dampening?: number;
  /** Columns per lazy batch; 128 as the reference. */
  readonly batchColumns?: number;
  /**
   * true (default): each layer's inputs come from the quantized layers before it, as the
   * reference runs GPTQ. false: every layer is calibrated on the unquantized model's activations
   * (the simpler variant: the pass keeps the original weights).
   */
  readonly sequential?: boolean;
  /** After each weight matrix: matrices done, of `total`, and the name of the last. */
  readonly onProgress?: (done: number, total: number, tensor: string) => void;
}

/** A matrix written by GPTQ: its blocks, in the source's RoPE layout. */
export interface GptqTensor {
  readonly type: BlockDtype;
  readonly data: Uint8Array;
  /** Calibration tokens its Hessian was accumulated over. */
  readonly tokens: number;
}

/**
 * GPTQ for every linear layer of a Llama-family model, sequentially as the reference
 * implementation does it: one CPU forward pass (f64 accumulation) over all the calibration
 * sequences at once, and at each linear layer, before it is applied, H = 2 X Xᵀ / N of its inputs
 * X, GPTQ of its matrices (Q, K and V share one H, gate and up another), and the quantized values
 * put in place of the originals. Every later layer's inputs thus come from the quantized earlier
 * layers. The output projection is quantized the same way, from the final norm's outputs, unless
 * it is tied to the token embedding; the token embedding is rounded to its type first.
 * Returns the GPTQ matrices by GGUF name.
 */
export async function gptqCalibrate(
  source: WeightSource,
  sequences: readonly (readonly number[])[],
  options: GptqCalibrationOptions,
): Promise<Map<string, GptqTensor>> {
  const config = source.config;
  if (sequences.length === 0 || sequences.some((s) => s.length === 0)) {
    throw new GptqError('invalid_argument', 'GPTQ needs calibration text: at least one sequence of at least one token');
  }
  const longest = Math.max(...sequences.map((s) => s.length));
  if (longest > config.contextLength) {
    throw new GptqError(
      'invalid_argument',
      `a calibration sequence of ${longest} tokens is beyond the model's context of ${config.contextLength}`,
    );
  }
  const sequential = options.sequential ?? true;
  const total = 7 * config.numLayers + (config.tiedEmbeddings ? 0 : 1);
  let done = 0;
  const written = new Map<string, GptqTensor>();
  const gptqType = (w: LinearWeight, cols: number): BlockDtype | undefined => {
    const type = options.typeOf(w.name, [w.rows, cols]);
    return isOneOf(GPTQ_TYPES, type) && cols % gptqGrid(type).blockSize === 0 ? type : undefined;
  };

  const onLinear = (site: LinearInputs): void => {
    const { cols } = site;
    const chosen = site.weights.map((w) => gptqType(w, cols));
    let factor: ReturnType<typeof gptqHessianFactor> | undefined;
    if (chosen.some((t) => t !== undefined)) {
      const acc = new HessianAccumulator(cols);
      acc.add(site.inputs, site.tokens);
      factor = gptqHessianFactor(acc.hessian(), cols, options.dampening);
    }
    site.weights.forEach((w, i) => {
      const type = chosen[i];
      if (type !== undefined && factor !== undefined) {
        const data = gptqQuantize(w.values, w.rows, cols, factor, {
          type,
          ...(options.groupSize === undefined ? {} : { groupSize: options.groupSize }),
          ...(options.batchColumns === undefined ? {} : { batchColumns: options.batchColumns }),
        });
        written.set(w.name, { type, data, tokens: site.tokens });
        if (sequential) w.values.set(dequantize(type, data, w.values.length));
      } else if (sequential) {
        roundToType(w, options.typeOf(w.name, [w.rows, cols]), cols);
      }
      options.onProgress?.(++done, total, w.name);
    });
  };
  await calibrationPass(source, sequences, onLinear, (embedding) => {
    if (sequential) roundToType(embedding, options.typeOf(embedding.name, [embedding.rows, config.dim]), config.dim);
  });
  return written;
}

/** The values as the written model holds them: rounded to f16 or through a block codec. */
function roundToType(w: LinearWeight, type: TensorDtype, cols: number): void {
  if (type === 'f16') {
    w.values.set(f16ArrayToF32(f32ArrayToF16(w.values)));
  } else if (quantizableTypes.includes(type) && cols % blockCodec(type).type.blockSize === 0) {
    w.values.set(dequantize(type, quantize(type, w.values), w.values.length));
  }
}
