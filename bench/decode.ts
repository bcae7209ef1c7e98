/**
 * Batch-1 decode speed on synthetic Llama-shaped models (the 110M shape in F32 and F16, the 1.1B
 * shape in F16), this engine on WebGPU against llama.cpp (node-llama-cpp, CPU) on the same GGUF
 * files, next to the machine's measured memory bandwidth.
 *
 * Run: pnpm bench decode [--tokens N] [--skip-1b]. Table on stdout, progress on stderr, JSON in
 * bench/results/decode.json. Models are generated once into .cache/models (deterministic seed).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Generator } from '@llm/engine';
import { GpuContext } from '@llm/kernels';
import { openPeer } from '@llm/llama-cpp-peer';
import { GREEDY, GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { writeSyntheticLlamaGguf } from '@llm/formats/node';
import { type LlamaConfig, type SyntheticLlamaPreset } from '@llm/formats';
import type { GpuDtype } from '@llm/quant';
import { printTable, progress } from './console-report.js';
import { writeResult } from './result-writer.js';
import { adapterMethod, machineMethod, measureAdapter, measureMachine } from './roofline.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = join(repoRoot, '.cache', 'models');
const GB = 1e9;
// Seed of every synthetic model: the same files on every machine.
const SEED = 1;

interface ModelCase {
  name: string;
  preset: SyntheticLlamaPreset;
  dtype: GpuDtype;
}

const CASES: ModelCase[] = [
  { name: 'llama110m-f32', preset: 'llama110m', dtype: 'f32' },
  { name: 'llama110m-f16', preset: 'llama110m', dtype: 'f16' },
  { name: 'llama1b-f16', preset: 'llama1b', dtype: 'f16' },
];

/** Bytes of weights one decode step streams: every layer matrix and the LM head (one embedding row is negligible). */
function weightBytesPerToken(c: LlamaConfig, bytesPerElement: number): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = c.dim * (q + 2 * kv) + q * c.dim + 3 * c.dim * c.hiddenDim;
  return (c.numLayers * perLayer + c.vocabSize * c.dim) * bytesPerElement;
}

async function ensureModel(m: ModelCase): Promise<string> {
  mkdirSync(modelsDir, { recursive: true });
  const path = join(modelsDir, `${m.name}.gguf`);
  if (!existsSync(path)) {
    progress(`generating ${path}`);
    await writeSyntheticLlamaGguf(path, { preset: m.preset, dtype: m.dtype, seed: SEED, progress: true });
  }
  return path;
}

async function measureOurs(ctx: GpuContext, path: string, tokens: number) {
  const model = await openModel(path);
  const runner = await GpuModelRunner.load(ctx, model.source, { maxSeqs: 1 }, (done, total) =>
    progress(`  uploading weights ${done}/${total}`),
  );
  try {
    const generator = new Generator(runner, model.tokenizer, { enablePrefixCaching: false });
    const prompt = model.tokenizer.encode('once upon a time', { addSpecial: true });
    progress('  warm-up (pipeline compilation)');
    await generator.generate({ promptIds: prompt, maxTokens: 3, sampling: GREEDY });
    progress(`  decoding ${tokens} tokens`);
    const result = await generator.generate({ promptIds: prompt, maxTokens: tokens, sampling: GREEDY });
    return { prompt, config: model.source.config, ...result.timings };
  } finally {
    runner.dispose();
    await model.source.close();
  }
}

async function measurePeer(path: string, prompt: number[], tokens: number) {
  let best: { tokensPerSecond: number; threads: number } | undefined;
  // llama.cpp's threads spin-wait for each other: on a loaded 2-core machine 1 thread can beat 2.
  for (const threads of [1, 2]) {
    const peer = await openPeer(path, { threads });
    try {
      const tokensPerSecond = await peer.decodeTokensPerSecond(prompt, tokens, { threads });
      if (!best || tokensPerSecond > best.tokensPerSecond) best = { tokensPerSecond, threads };
    } finally {
      await peer.close();
    }
  }
  return best!;
}

export async function main(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: { tokens: { type: 'string' }, 'skip-1b': { type: 'boolean' } },
  });
  const tokens = Number(values.tokens ?? 32);
  progress('measuring machine memory bandwidth');
  const machine = await measureMachine();
  const ctx = await GpuContext.create();
  progress(`measuring adapter bandwidth (${ctx.adapterName})`);
  const adapter = await measureAdapter(ctx.device);
  const results = [];
  for (const m of CASES) {
    if (values['skip-1b'] && m.preset === 'llama1b') continue;
    progress(`${m.name}`);
    const path = await ensureModel(m);
    // The 1.1B shape only has to load and decode here; a few tokens keep the run short.
    const n = m.preset === 'llama1b' ? Math.min(tokens, 8) : tokens;
    const ours = await measureOurs(ctx, path, n);
    const bytes = weightBytesPerToken(ours.config, m.dtype === 'f16' ? 2 : 4);
    let llamaCpp: Record<string, unknown>;
    try {
      progress('  llama.cpp');
      const peer = await measurePeer(path, ours.prompt, n);
      llamaCpp = { ...peer, achievedGBps: (bytes * peer.tokensPerSecond) / GB };
    } catch (error) {
      llamaCpp = { unavailable: String(error) };
    }
    const oursGBps = (bytes * ours.decodeTokensPerSecond) / GB;
    const peerTps = typeof llamaCpp['tokensPerSecond'] === 'number' ? llamaCpp['tokensPerSecond'] : undefined;
    results.push({
      model: m.name,
      dtype: m.dtype,
      tokens: n,
      weightBytesPerToken: bytes,
      ours: {
        backend: 'webgpu',
        tokensPerSecond: ours.decodeTokensPerSecond,
        prefillMs: ours.prefillMs,
        achievedGBps: oursGBps,
        fractionOfMachineBandwidth: oursGBps / machine.memoryReadGBps,
        fractionOfAdapterBandwidth: oursGBps / adapter.readGBps,
      },
      llamaCpp,
      ratioVsLlamaCpp: peerTps ? ours.decodeTokensPerSecond / peerTps : null,
    });
  }
  printTable(
    results.map((r) => ({
      model: r.model,
      'ours tok/s': r.ours.tokensPerSecond,
      'ours GB/s': r.ours.achievedGBps,
      'llama.cpp tok/s': (r.llamaCpp['tokensPerSecond'] as number | undefined) ?? 'n/a',
      'llama.cpp GB/s': (r.llamaCpp['achievedGBps'] as number | undefined) ?? 'n/a',
      'ours/llama.cpp': r.ratioVsLlamaCpp,
      'machine read GB/s': machine.memoryReadGBps,
      'adapter read GB/s': adapter.readGBps,
    })),
  );
  const path = await writeResult('decode', {
    adapter: ctx.adapterName,
    // JavaScript reads the machine's memory slower than llama.cpp's AVX loops do: the measured
    // figure is a lower bound of the memory bandwidth, so llama.cpp can exceed it.
    machineRoofline: { ...machine, method: machineMethod },
    adapterRoofline: { ...adapter, method: adapterMethod },
    models: results,
  });
  progress(`wrote ${path}`);
  ctx.destroy();
}
