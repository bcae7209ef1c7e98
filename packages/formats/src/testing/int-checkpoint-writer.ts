import { bf16ArrayToF32, dequantize, f16ArrayToF32, f32ToF16Bits, f16BitsToF32, roundHalfEven } from '@llm/quant';
import { permuteRopeRows } from '../convert/rope-permutation.js';
import { hfConfigFromLlama } from '../hf/hf-config.js';
import { hfNameOf } from '../hf/hf-tensor-names.js';
import { HF_CONFIG_FILE, HF_WEIGHTS_FILE } from '../hf/hf-weight-source.js';
import type { ModelFolderSink } from '../io/model-folder.js';
import { packAwq } from '../quantized/awq-packing.js';
import { packGptq, type GptqCheckpointFormat } from '../quantized/gptq-packing.js';
import { groupDtypeFor, type UnpackedLinear } from '../quantized/int-packing.js';
import { writeSafetensorsTo, type SafetensorsTensorSource } from '../safetensors/safetensors-writer.js';
import type { WeightSource } from '../weight-source.js';

/**
 * How the test checkpoints are quantized and packed. `gptq` writes AutoGPTQ's / GPTQModel's
 * tensors (v1 or v2 zeros; `sym` puts every zero at 2^(bits-1), as GPTQ's symmetric mode does);
 * EfficientQAT publishes the same packing at 2 and 3 bits. `awq` writes AutoAWQ's GEMM packing.
 */
export type IntCheckpointScheme =
  | {
      readonly method: 'gptq';
      readonly bits: 2 | 3 | 4;
      /** -1: per channel. */
      readonly groupSize: number;
      readonly checkpointFormat: GptqCheckpointFormat;
      readonly sym: boolean;
      /**
       * Act-order: groups formed in an order standing in for GPTQ's order of the Hessian's
       * diagonal, which depends on the layer's inputs alone: for Q, K, V (and gate, up) the
       * decreasing magnitude of the RMSNorm weight they share, for the output and down
       * projections their columns' decreasing L2 norm. g_idx is then a scattered grouping, and
       * layers with one input share one order, as in a GPTQ checkpoint.
       */
      readonly descAct?: boolean;
    }
  | { readonly method: 'awq'; readonly groupSize: number };

export interface IntCheckpointResult {
  /** GGUF names of the layers written quantized. */
  readonly quantized: readonly string[];
  /** GGUF names of the 2-D weights kept f32 (shapes the packing or the kernels cannot hold). */
  readonly kept: readonly string[];
}

const LINEAR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

/**
 * Round-to-nearest quantization of a [rows, cols] weight as GPTQ's Quantizer sets its grid (the
 * range widened to hold 0; symmetric: zero 2^(bits-1)), with the scale rounded to a half before the
 * levels are chosen, so that the stored scale is the one they were rounded against.
 */
export function quantizeRtn(
  values: Float32Array,
  rows: number,
  cols: number,
  bits: 2 | 3 | 4,
  groupSize: number,
  sym: boolean,
  order?: Uint32Array,
): UnpackedLinear {
  const g = Math.min(groupSize === -1 ? cols : groupSize, cols);
  const groups = Math.ceil(cols / g);
  const maxq = (1 << bits) - 1;
  const levels = new Uint8Array(rows * cols);
  const zeros = new Uint16Array(groups * rows);
  const scales = new Uint16Array(groups * rows);
  // Group j holds the inputs at positions [j g, j g + g) of `order` (act-order), else those inputs.
  const column = (p: number) => (order ? order[p]! : p);
  const gIdx = new Int32Array(cols);
  for (let p = 0; p < cols; p++) gIdx[column(p)] = Math.floor(p / g);
  for (let n = 0; n < rows; n++) {
    for (let j = 0; j < groups; j++) {
      const from = j * g;
      const to = Math.min(cols, (j + 1) * g);
      let min = 0;
      let max = 0;
      for (let p = from; p < to; p++) {
        const v = values[n * cols + column(p)]!;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      if (sym) {
        max = Math.max(max, -min);
        min = -max;
      }
      if (max === min) [min, max] = [-1, 1];
      const bitsOfScale = f32ToF16Bits((max - min) / maxq);
      const s = f16BitsToF32(bitsOfScale);
      const z = sym ? (maxq + 1) / 2 : Math.min(maxq, Math.max(0, roundHalfEven(-min / s)));
      scales[j * rows + n] = bitsOfScale;
      zeros[j * rows + n] = z;
      for (let p = from; p < to; p++) {
        const i = n * cols + column(p);
        levels[i] = Math.min(maxq, Math.max(0, roundHalfEven(values[i]! / s) + z));
      }
    }
  }
  return { bits, groupSize: g, rows, cols, levels, zeros, scales, ...(order ? { gIdx } : {}) };
}

/** The quantization_config transformers, GPTQModel and AutoAWQ write for `scheme`. */
export function quantizationConfigJson(scheme: IntCheckpointScheme): Record<string, unknown> {
  if (scheme.method === 'awq') {
    return { quant_method: 'awq', bits: 4, group_size: scheme.groupSize, zero_point: true, version: 'gemm', modules_to_not_convert: null };
  }
  return {
    quant_method: 'gptq',
    bits: scheme.bits,
    group_size: scheme.groupSize,
    desc_act: scheme.descAct ?? false,
    static_groups: false,
    sym: scheme.sym,
    true_sequential: true,
    damp_percent: 0.01,
    checkpoint_format: scheme.checkpointFormat,
  };
}

/**
 * Writes `source` as a Hugging Face GPTQ or AWQ checkpoint in exactly the published packing:
 * config.json with its quantization_config, and model.safetensors with qweight / qzeros / scales
 * (and g_idx for GPTQ) for each linear layer whose shape the packing and the kernels hold, every
 * other tensor f32 (like a quantizer's modules_to_not_convert). Q and K rows are put in the
 * half-split RoPE layout Hugging Face uses.
 */
export async function writeIntCheckpoint(
  folder: ModelFolderSink,
  source: WeightSource,
  scheme: IntCheckpointScheme,
): Promise<IntCheckpointResult> {
  const config = { ...source.config, ropeLayout: 'halfSplit' as const };
  const bits = scheme.method === 'awq' ? 4 : scheme.bits;
  const quantized: string[] = [];
  const kept: string[] = [];
  const tensors: SafetensorsTensorSource[] = [];
  for (const [name, info] of source.tensors) {
    const hfName = hfNameOf(name);
    if (hfName === undefined) continue;
    let values = await readValues(source, name);
    const kind = /\.(attn_q|attn_k)\.weight$/.exec(name)?.[1];
    if (kind) {
      const heads = kind === 'attn_q' ? config.numHeads : config.numKvHeads;
      values = permuteRopeRows(values, info.shape, heads, source.config.ropeLayout, 'halfSplit');
    }
    const [rows, cols] = info.shape as [number, number];
    const fits =
      LINEAR.test(name) &&
      groupDtypeFor(bits, cols, scheme.groupSize === -1 ? cols : scheme.groupSize) !== undefined &&
      (scheme.method === 'awq' ? rows % 8 === 0 : (rows * bits) % 32 === 0 && (cols * bits) % 32 === 0);
    if (!fits) {
      if (info.shape.length === 2 && LINEAR.test(name)) kept.push(name);
      tensors.push({ name: hfName, dtype: 'f32', shape: info.shape, data: values });
      continue;
    }
    quantized.push(name);
    const order = scheme.method === 'gptq' && scheme.descAct ? await actOrderOf(source, name, values, rows, cols) : undefined;
    const layer = quantizeRtn(values, rows, cols, bits, scheme.groupSize, scheme.method === 'gptq' && scheme.sym, order);
    const base = hfName.slice(0, -'.weight'.length);
    const groups = Math.ceil(cols / layer.groupSize);
    if (scheme.method === 'awq') {
      const t = packAwq(layer);
      tensors.push(
        { name: `${base}.qweight`, dtype: 'i32', shape: [cols, rows / 8], data: t.qweight },
        { name: `${base}.qzeros`, dtype: 'i32', shape: [groups, rows / 8], data: t.qzeros },
        { name: `${base}.scales`, dtype: 'f16', shape: [groups, rows], data: t.scales },
      );
    } else {
      const t = packGptq(layer, scheme.checkpointFormat);
      tensors.push(
        { name: `${base}.qweight`, dtype: 'i32', shape: [(cols * bits) / 32, rows], data: t.qweight },
        { name: `${base}.qzeros`, dtype: 'i32', shape: [groups, (rows * bits) / 32], data: t.qzeros },
        { name: `${base}.scales`, dtype: 'f16', shape: [groups, rows], data: t.scales },
        { name: `${base}.g_idx`, dtype: 'i32', shape: [cols], data: t.gIdx },
      );
    }
  }
  await writeSafetensorsTo(await folder.create(HF_WEIGHTS_FILE), tensors, { format: 'pt' });
  const json = {
    ...hfConfigFromLlama(config, 'float32', `${folder.name}/${HF_CONFIG_FILE}`),
    quantization_config: quantizationConfigJson(scheme),
  };
  const sink = await folder.create(HF_CONFIG_FILE);
  await sink.write(new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
  await sink.commit();
  return { quantized, kept };
}

/** Input features by decreasing column L2 norm (ties by index): an act-order permutation. */
export function normOrder(values: Float32Array, rows: number, cols: number): Uint32Array {
  const norms = new Float64Array(cols);
  for (let n = 0; n < rows; n++) for (let k = 0; k < cols; k++) norms[k]! += values[n * cols + k]! ** 2;
  return Uint32Array.from({ length: cols }, (_, k) => k).sort((a, b) => norms[b]! - norms[a]! || a - b);
}

/** The act-order permutation writeIntCheckpoint gives a layer (see IntCheckpointScheme's descAct). */
async function actOrderOf(source: WeightSource, name: string, values: Float32Array, rows: number, cols: number): Promise<Uint32Array> {
  const shared = /^(blk\.\d+)\.(attn_q|attn_k|attn_v|ffn_gate|ffn_up)\.weight$/.exec(name);
  if (!shared) return normOrder(values, rows, cols);
  const norm = await readValues(source, `${shared[1]}.${shared[2]!.startsWith('attn') ? 'attn_norm' : 'ffn_norm'}.weight`);
  return normOrder(norm, 1, cols);
}

async function readValues(source: WeightSource, name: string): Promise<Float32Array> {
  const info = source.tensors.get(name)!;
  const data = await source.read(name);
  const count = info.shape.reduce((a, b) => a * b, 1);
  if (info.dtype === 'f32') return data as Float32Array;
  if (info.dtype === 'f16') return f16ArrayToF32(data as Uint16Array);
  if (info.dtype === 'bf16') return bf16ArrayToF32(data as Uint16Array);
  return dequantize(info.dtype, data as Uint8Array, count);
}
