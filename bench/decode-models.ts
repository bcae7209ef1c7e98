// The benchmarks' models (decode's below, serving-offline's through ensureSyntheticModel):
// synthetic Llama-shaped GGUF files, generated once into .cache/models from a fixed seed, so every
// machine measures the same files.
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  syntheticLlamaPresets,
  type SyntheticLlamaOptions,
  type SyntheticLlamaPreset,
  type SyntheticLlamaShape,
} from '@llm/formats';
import { writeSyntheticLlamaGguf } from '@llm/formats/node';
import type { GpuDtype } from '@llm/quant';
import { progress } from './console-report.js';

const modelsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'models');
// Seed of every synthetic model: the same files on every machine.
const SEED = 1;

export interface DecodeModel {
  /** As the results name it, e.g. 'llama110m-f16'. */
  name: string;
  preset: SyntheticLlamaPreset;
  dtype: GpuDtype;
  shape: SyntheticLlamaShape;
  /** Whether decode is also measured with a context of contextLength tokens cached. */
  longContext: boolean;
}

function model(preset: SyntheticLlamaPreset, dtype: GpuDtype, contextLength?: number): DecodeModel {
  const shape = {
    ...syntheticLlamaPresets[preset],
    ...(contextLength === undefined ? {} : { contextLength }),
  };
  return { name: `${preset}-${dtype}`, preset, dtype, shape, longContext: contextLength !== undefined };
}

/**
 * The 110M shape (llama2.c's stories110M) in F32 and F16 with a 4096-token context (the preset has
 * 2048), for decode at 4096 cached tokens; the 1.1B shape (TinyLlama) in F16 at its 2048.
 */
export const DECODE_MODELS: readonly DecodeModel[] = [
  model('llama110m', 'f32', 4096),
  model('llama110m', 'f16', 4096),
  model('llama1b', 'f16'),
];

/** The model's GGUF file, written first if absent. */
export async function ensureModelFile(m: DecodeModel): Promise<string> {
  const context = m.longContext ? `-ctx${m.shape.contextLength}` : '';
  const options = { preset: m.preset, dtype: m.dtype };
  return ensureSyntheticModel(
    `${m.name}${context}.gguf`,
    m.longContext ? { ...options, contextLength: m.shape.contextLength } : options,
  );
}

/**
 * A synthetic model in .cache/models drawn from the benchmarks' fixed seed, written first if
 * absent (whole or not at all: beside it, then renamed). `fileName` must name the shape and dtype:
 * a file of that name is taken as it is.
 */
export async function ensureSyntheticModel(
  fileName: string,
  options: Omit<SyntheticLlamaOptions, 'seed' | 'progress'>,
): Promise<string> {
  mkdirSync(modelsDir, { recursive: true });
  const path = join(modelsDir, fileName);
  if (!existsSync(path)) {
    progress(`generating ${path}`);
    await writeSyntheticLlamaGguf(`${path}.tmp`, { ...options, seed: SEED, progress: true });
    renameSync(`${path}.tmp`, path);
  }
  return path;
}

/** Bytes of weights one decode step streams: every layer matrix and the LM head (one embedding row is negligible). */
export function weightBytesPerToken(m: DecodeModel): number {
  const s = m.shape;
  const headDim = s.headDim ?? s.dim / s.numHeads;
  const q = s.numHeads * headDim;
  const kv = s.numKvHeads * headDim;
  const perLayer = s.dim * (q + 2 * kv) + q * s.dim + 3 * s.dim * s.hiddenDim;
  const bytesPerElement = m.dtype === 'f16' ? 2 : 4;
  return (s.numLayers * perLayer + s.vocabSize * s.dim) * bytesPerElement;
}
