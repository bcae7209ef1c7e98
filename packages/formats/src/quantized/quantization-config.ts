import * as z from 'zod/mini';
import { UnsupportedModelError } from '../errors.js';
import { HfFormatError } from '../hf/hf-format-error.js';
import { englishMessages } from '../zod-messages.js';
import type { GptqCheckpointFormat } from './gptq-packing.js';

/**
 * The `quantization_config` of a Hugging Face config.json (or GPTQModel's quantize_config.json)
 * for the integer checkpoints read in place: GPTQ (AutoGPTQ, GPTQModel, EfficientQAT's GPTQ
 * exports) and AWQ (AutoAWQ / llm-awq, GEMM packing).
 */
export type IntQuantization =
  | {
      readonly method: 'gptq';
      readonly bits: 2 | 3 | 4;
      /** Input features per group; -1 in the file (per-channel) reads as Infinity: one group per row. */
      readonly groupSize: number;
      readonly checkpointFormat: GptqCheckpointFormat;
      readonly descAct: boolean;
    }
  | { readonly method: 'awq'; readonly bits: 4; readonly groupSize: number };

const configSchema = z.looseObject({
  quant_method: z.string(),
  bits: z.optional(z.int()),
  w_bit: z.optional(z.int()),
  group_size: z.optional(z.int()),
  q_group_size: z.optional(z.int()),
  desc_act: z.nullish(z.boolean()),
  checkpoint_format: z.nullish(z.string()),
  version: z.nullish(z.string()),
  zero_point: z.nullish(z.boolean()),
});

/**
 * Parses a quantization_config, or throws: UnsupportedModelError (code `unsupported`) naming the
 * setting for what the engine cannot read (another method, 8 bits, AWQ's GEMV packing or
 * zero_point false, a format other than gptq / gptq_v2), HfFormatError for a malformed object.
 */
export function parseIntQuantization(json: unknown, path: string): IntQuantization {
  const parsed = configSchema.safeParse(json, { error: englishMessages });
  if (!parsed.success) {
    throw new HfFormatError(path, 'config-invalid', `quantization_config is malformed:\n${z.prettifyError(parsed.error)}`);
  }
  const c = parsed.data;
  const method = c.quant_method.toLowerCase();
  const bits = c.bits ?? c.w_bit;
  const groupSize = c.group_size ?? c.q_group_size ?? -1;
  if (method !== 'gptq' && method !== 'awq') {
    throw new UnsupportedModelError(
      `quantization_config.quant_method is "${c.quant_method}"; only gptq and awq integer checkpoints are read (convert the model to safetensors f16 or GGUF otherwise)`,
      path,
    );
  }
  if (bits !== 2 && bits !== 3 && bits !== 4) {
    throw new UnsupportedModelError(
      `${method} checkpoints of ${String(bits)} bits are not read; bits must be 2, 3 or 4`,
      path,
    );
  }
  if (groupSize !== -1 && (groupSize < 1 || groupSize % 32 !== 0)) {
    throw new UnsupportedModelError(
      `group_size ${groupSize} is not read; groups must be a multiple of 32 input features, or -1 (per channel)`,
      path,
    );
  }
  const group = groupSize === -1 ? Number.POSITIVE_INFINITY : groupSize;
  if (method === 'awq') {
    const version = (c.version ?? 'gemm').toLowerCase();
    if (version !== 'gemm') {
      throw new UnsupportedModelError(`AWQ version "${c.version}" is not read; only the GEMM packing is (quantize with version "gemm")`, path);
    }
    if (c.zero_point === false) {
      throw new UnsupportedModelError('AWQ with zero_point false is not read; quantize with zero_point true', path);
    }
    if (bits !== 4) throw new UnsupportedModelError(`AWQ's GEMM packing holds 4-bit weights, not ${bits}-bit`, path);
    return { method, bits, groupSize: group };
  }
  const format = c.checkpoint_format ?? 'gptq';
  if (format !== 'gptq' && format !== 'gptq_v2') {
    throw new UnsupportedModelError(
      `GPTQ checkpoint_format "${format}" is not read; only gptq (v1) and gptq_v2 are`,
      path,
    );
  }
  return { method, bits, groupSize: group, checkpointFormat: format, descAct: c.desc_act ?? false };
}
