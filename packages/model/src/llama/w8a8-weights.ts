import { elementType, LlmError, smoothQuantFactors, SMOOTHQUANT_DEFAULT_ALPHA } from '@llm/quant';
import { uploadI8Matrix, type GpuContext, type I8Matrix } from '@llm/kernels';
import type { WeightSource } from '@llm/formats';
import { calibrationPass } from './calibration-pass.js';
import type { HostLayer } from './layer-weights.js';
import { interleaveHalves, matrixF32, type HostMatrix } from './load-weights.js';

/** What the runner asks for with its `w8a8` option. */
export interface W8A8Options {
  readonly calibration: readonly (readonly number[])[];
  readonly alpha?: number | undefined;
}

/** A layer's products as W8A8 weights, in the runner's layouts (Q|K|V stacked, gate/up interleaved). */
export interface I8Layer {
  readonly qkv: I8Matrix;
  readonly wo: I8Matrix;
  readonly gateUp: I8Matrix;
  readonly down: I8Matrix;
}

// The four inputs of a layer's products, by the first weight that reads each.
const SITES = ['attn_q', 'attn_output', 'ffn_gate', 'ffn_down'] as const;
type Site = (typeof SITES)[number];

/**
 * Per input feature, the largest |activation| of each layer's product inputs over the
 * calibration sequences (one CPU pass): `ranges[layer][site]`. `onLayer` hears how many layers
 * the pass is through.
 */
export async function activationRanges(
  source: WeightSource,
  calibration: readonly (readonly number[])[],
  onLayer?: (done: number) => void,
): Promise<Map<Site, Float32Array>[]> {
  const ranges = Array.from({ length: source.config.numLayers }, () => new Map<Site, Float32Array>());
  await calibrationPass(source, calibration, ({ layer, weights, inputs, tokens, cols }) => {
    if (layer === undefined) return;
    const site = SITES.find((s) => weights[0]!.name === `blk.${layer}.${s}.weight`);
    if (site === undefined) return;
    // A layer's last product input: the pass is through it.
    if (site === 'ffn_down') onLayer?.(layer + 1);
    ranges[layer]!.set(site, columnAbsMax(inputs, tokens, cols));
  });
  return ranges;
}

/** The f32 values of float weights stacked by rows; a block-quantized one is refused. */
function floatRows(parts: readonly HostMatrix[], label: string): Float32Array {
  for (const m of parts) {
    if (elementType(m.dtype).kind === 'quantized') {
      throw new LlmError('unsupported', `W8A8 takes f32, f16 or bf16 weights; ${label} is ${m.dtype}`);
    }
  }
  const values = new Float32Array(parts.reduce((n, m) => n + m.rows * m.cols, 0));
  let at = 0;
  for (const m of parts) {
    values.set(matrixF32(m), at);
    at += m.rows * m.cols;
  }
  return values;
}

/** The largest |value| of each column of a [rows, cols] row-major matrix. */
function columnAbsMax(values: Float32Array, rows: number, cols: number): Float32Array {
  const max = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) max[j] = Math.max(max[j]!, Math.abs(values[r * cols + j]!));
  }
  return max;
}

/**
 * A layer's W8A8 weights: each input's SmoothQuant factors from its activation range and the
 * column range of every weight that reads it, then per-row int8 (see @llm/kernels uploadI8Matrix).
 */
export function uploadI8Layer(
  ctx: GpuContext,
  w: HostLayer,
  ranges: ReadonlyMap<Site, Float32Array>,
  layer: number,
  alpha = SMOOTHQUANT_DEFAULT_ALPHA,
): I8Layer {
  const upload = (parts: readonly HostMatrix[], site: Site, name: string) => {
    const label = `blk.${layer}.${name}`;
    const values = floatRows(parts, label);
    const rows = parts.reduce((n, m) => n + m.rows, 0);
    const cols = parts[0]!.cols;
    const range = ranges.get(site);
    if (!range) throw new LlmError('internal', `no calibration range for ${label}`);
    const smooth = smoothQuantFactors(range, columnAbsMax(values, rows, cols), alpha);
    return uploadI8Matrix(ctx, values, rows, cols, { smooth, label });
  };
  const made: I8Matrix[] = [];
  const keep = (m: I8Matrix) => (made.push(m), m);
  try {
    return {
      qkv: keep(upload([w.wq, w.wk, w.wv], 'attn_q', 'attn_qkv')),
      wo: keep(upload([w.wo], 'attn_output', 'attn_output')),
      gateUp: keep(upload([interleaveHalves(w.gateUp)], 'ffn_gate', 'ffn_gate_up')),
      down: keep(upload([w.down], 'ffn_down', 'ffn_down')),
    };
  } catch (error) {
    for (const m of made) m.destroy();
    throw error;
  }
}
