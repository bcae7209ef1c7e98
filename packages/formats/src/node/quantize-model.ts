import {
  quantMix,
  tensorQuantType,
  type QuantMix,
  type QuantMixName,
  type QuantTypeOverrides,
  type TensorDtype,
} from '@llm/quant';
import { convertModel, type ConvertProgress, type ConvertResult, type EncodedTensor } from './convert-model.js';

export interface QuantizeModelOptions {
  /** llama.cpp's mix (`q8_0`, `q4_0`, `q4_k_m`, ...) or one resolved by `quantMix`. */
  readonly mix: QuantMixName | QuantMix;
  /** llama-quantize's --output-tensor-type / --token-embedding-type. */
  readonly overrides?: QuantTypeOverrides;
  /** A tokenizer for inputs without one (a llama2.c checkpoint). */
  readonly tokenizerPath?: string;
  /**
   * Blocks already encoded (by GPTQ, say), by tensor name, in the input's RoPE layout; each must
   * have the type the mix gives its tensor. The other tensors are quantized round to nearest.
   */
  readonly encodedTensors?: ReadonlyMap<string, EncodedTensor>;
  readonly onProgress?: (progress: ConvertProgress) => void;
}

export interface QuantizedTensor {
  readonly name: string;
  readonly type: TensorDtype;
  readonly shape: readonly number[];
  /** The mix's type when the rows are not whole blocks of it and llama.cpp's fallback applied. */
  readonly fallbackFrom?: string;
  /** Written from `encodedTensors` rather than quantized round to nearest here. */
  readonly encoded?: true;
}

export interface QuantizeModelResult extends ConvertResult {
  readonly mix: QuantMix;
  /** Every tensor as written, in file order, with its type (rope_freqs.weight aside). */
  readonly tensors: readonly QuantizedTensor[];
}

/**
 * Writes `outputPath`, a GGUF llama.cpp loads, with every 2-D weight of `inputPath` (an F32, F16
 * or BF16 GGUF, a Hugging Face folder or a llama2.c checkpoint) quantized round-to-nearest by
 * @llm/quant's reference codecs in the types llama.cpp's mix gives each tensor
 * (`tensorQuantType`), or written as `encodedTensors` gives them; 1-D tensors stay f32. An
 * already quantized input is refused.
 */
export async function quantizeModel(
  inputPath: string,
  outputPath: string,
  options: QuantizeModelOptions,
): Promise<QuantizeModelResult> {
  const mix = typeof options.mix === 'string' ? quantMix(options.mix) : options.mix;
  const tensors: QuantizedTensor[] = [];
  const result = await convertModel(inputPath, outputPath, {
    type: 'f32',
    fileType: mix.fileType,
    ...(options.tokenizerPath === undefined ? {} : { tokenizerPath: options.tokenizerPath }),
    tensorType: ({ name, shape }, config) => {
      const choice = tensorQuantType({ name, shape }, mix, config, options.overrides ?? {});
      // 1-D tensors (norms, biases, RoPE factors) stay f32, as llama.cpp's kernels expect them.
      const type = choice.type === 'keep' ? 'f32' : choice.type;
      tensors.push({
        name,
        type,
        shape: [...shape],
        ...(choice.fallbackFrom === undefined ? {} : { fallbackFrom: choice.fallbackFrom }),
        ...(options.encodedTensors?.has(name) === true ? { encoded: true as const } : {}),
      });
      return type;
    },
    ...(options.encodedTensors === undefined ? {} : { encodedTensor: (name) => options.encodedTensors?.get(name) }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  return { ...result, mix, tensors };
}
