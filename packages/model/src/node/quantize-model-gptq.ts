import {
  quantizeModel,
  type EncodedTensor,
  type QuantizeModelOptions,
  type QuantizeModelResult,
} from '@llm/formats/node';
import { quantMix, tensorQuantType } from '@llm/quant';
import { gptqCalibrate } from '../llama/gptq-calibration.js';
import { openModel } from './open-model-file.js';

export interface QuantizeModelGptqOptions extends QuantizeModelOptions {
  /** Token sequences to calibrate on, each starting at position 0 (BOS first, as the model reads text). */
  readonly calibration: readonly (readonly number[])[];
  /** GPTQ's group of columns whose block scales are chosen together (`GptqOptions.groupSize`). */
  readonly groupSize?: number;
  /** Fraction of H's mean diagonal added to it (0.01). */
  readonly dampening?: number;
  /** Columns per lazy batch (128). */
  readonly batchColumns?: number;
  /** Calibrate each layer on the quantized earlier layers' outputs (default) or on the unquantized model's. */
  readonly sequential?: boolean;
  /** After each weight matrix of the calibration pass. */
  readonly onCalibrationProgress?: (done: number, total: number, tensor: string) => void;
}

export interface QuantizeModelGptqResult extends QuantizeModelResult {
  /** The tensors written by GPTQ; the others were quantized round to nearest (or kept). */
  readonly gptqTensors: readonly string[];
  /** Calibration tokens each Hessian was accumulated over. */
  readonly calibrationTokens: number;
}

/**
 * `quantizeModel` with GPTQ: every weight matrix whose type in the mix GPTQ writes (Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q4_K) is quantized by `gptqCalibrate` over the calibration sequences; the
 * rest of the file is written as `quantizeModel` writes it, so the output is an ordinary GGUF of
 * the mix.
 */
export async function quantizeModelGptq(
  inputPath: string,
  outputPath: string,
  options: QuantizeModelGptqOptions,
): Promise<QuantizeModelGptqResult> {
  const mix = typeof options.mix === 'string' ? quantMix(options.mix) : options.mix;
  const model = await openModel(inputPath, options.tokenizerPath === undefined ? {} : { tokenizerPath: options.tokenizerPath });
  let encoded: Map<string, EncodedTensor>;
  try {
    const config = model.source.config;
    const tensors = await gptqCalibrate(model.source, options.calibration, {
      typeOf: (name, shape) => {
        const choice = tensorQuantType({ name, shape }, mix, config, options.overrides ?? {});
        return choice.type === 'keep' ? 'f32' : choice.type;
      },
      ...(options.groupSize === undefined ? {} : { groupSize: options.groupSize }),
      ...(options.dampening === undefined ? {} : { dampening: options.dampening }),
      ...(options.batchColumns === undefined ? {} : { batchColumns: options.batchColumns }),
      ...(options.sequential === undefined ? {} : { sequential: options.sequential }),
      ...(options.onCalibrationProgress === undefined ? {} : { onProgress: options.onCalibrationProgress }),
    });
    encoded = new Map([...tensors].map(([name, t]) => [name, { type: t.type, data: t.data }]));
  } finally {
    await model.source.close();
  }
  const result = await quantizeModel(inputPath, outputPath, { ...options, mix, encodedTensors: encoded });
  return {
    ...result,
    gptqTensors: [...encoded.keys()],
    calibrationTokens: options.calibration.reduce((n, s) => n + s.length, 0),
  };
}
