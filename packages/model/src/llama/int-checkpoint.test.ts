import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreInputOrder, type TensorInfo, type WeightSource } from '@llm/formats';
import { directorySink, openGgufWeightSource, openHfFolder, writeSyntheticLlamaGguf } from '@llm/formats/node';
import { modelFile, writeIntCheckpoint, type IntCheckpointScheme } from '@llm/formats/testing';
import { gpuForTests, relativeL2 } from '@llm/kernels/testing';
import { dequantize, GROUP_DTYPES, groupQuantParams, isOneOf } from '@llm/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuModelRunner } from './cpu-runner.js';
import { GpuModelRunner } from './gpu-runner.js';
import { GREEDY } from './model-runner.js';

const gguf = modelFile('stories260K.gguf');
const gpu = await gpuForTests();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'int-checkpoint-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The same checkpoint with every group-quantized layer decoded to f32 on the host. */
function dequantizedSource(source: WeightSource): WeightSource {
  const isGroup = (info: TensorInfo) => isOneOf(GROUP_DTYPES, info.dtype);
  const tensors = new Map(
    [...source.tensors].map(([name, info]) => {
      const count = info.shape.reduce((a, b) => a * b, 1);
      return [name, isGroup(info) ? { name, shape: info.shape, dtype: 'f32' as const, byteLength: 4 * count } : info] as const;
    }),
  );
  return {
    config: source.config,
    tensors,
    read: async (name) => {
      const info = source.tensors.get(name)!;
      const data = await source.read(name);
      if (!isGroup(info)) return data;
      const [rows, cols] = info.shape as [number, number];
      const values = dequantize(info.dtype, data as Uint8Array, rows * cols);
      return info.inputOrder ? restoreInputOrder(values, rows, cols, info.inputOrder) : values;
    },
    close: () => source.close(),
  };
}

/** Bytes the GPU holds for a group-quantized [rows, cols] matrix: its levels, and a word per checkpoint group. */
function packedBytes(info: TensorInfo): number {
  const { bits, groupSize } = groupQuantParams(info.dtype as (typeof GROUP_DTYPES)[number]);
  const elements = info.shape[0]! * info.shape[1]!;
  return (elements * bits) / 8 + (elements / groupSize) * 4;
}

const SCHEMES: readonly [string, IntCheckpointScheme][] = [
  ['GPTQ v1 int4, groups of 32, symmetric', { method: 'gptq', bits: 4, groupSize: 32, checkpointFormat: 'gptq', sym: true }],
  ['AWQ int4, groups of 64', { method: 'awq', groupSize: 64 }],
  ['EfficientQAT-style w3g128 (GPTQ v2)', { method: 'gptq', bits: 3, groupSize: 128, checkpointFormat: 'gptq_v2', sym: false }],
  ['EfficientQAT-style w2g64 (GPTQ v2)', { method: 'gptq', bits: 2, groupSize: 64, checkpointFormat: 'gptq_v2', sym: false }],
  ['GPTQ v1 int4 act-order (desc_act), groups of 32', { method: 'gptq', bits: 4, groupSize: 32, checkpointFormat: 'gptq', sym: true, descAct: true }],
];

describe.skipIf(!gguf || !gpu)('GPTQ / AWQ checkpoints of stories260K on the GPU, read in place', () => {
  const ctx = gpu!;
  const opts = { maxSeqs: 2, maxModelLen: 128 };
  const prompt = [1, 403, 407, 261, 378, 296, 261, 500];
  const blockTable = [0, 1, 2, 3, 4, 5, 6, 7];

  async function greedy(runner: GpuModelRunner, steps: number): Promise<number[]> {
    const tokens: number[] = [];
    let next = (await runner.step([{ tokens: prompt, startPos: 0, blockTable }], [{ chunk: 0, params: GREEDY, u: 0 }])).tokens[0]!;
    for (let i = 0; i < steps; i++) {
      tokens.push(next);
      const step = await runner.step([{ tokens: [next], startPos: prompt.length + i, blockTable }], [{ chunk: 0, params: GREEDY, u: 0 }]);
      next = step.tokens[0]!;
    }
    return tokens;
  }

  it.each(SCHEMES)('%s: CPU f64 logits, greedy tokens of the f32 weights, packed GPU bytes', async (name, scheme) => {
    const out = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
    const written = await (async () => {
      const original = await openGgufWeightSource(gguf!);
      try {
        return await writeIntCheckpoint(await directorySink(out), original, scheme);
      } finally {
        await original.close();
      }
    })();
    expect(written.quantized.length).toBe(20);
    const source = await openHfFolder(out);
    const f32 = dequantizedSource(await openHfFolder(out));
    try {
      const packed = await GpuModelRunner.load(ctx, source, opts);
      const unpacked = await GpuModelRunner.load(ctx, f32, opts);
      const cpu = await CpuModelRunner.load(source, opts);
      // What a runner frees on dispose is what it holds: the context's own buffers (staging, the
      // uniform arena), made by whichever runner came first, stay.
      const held = async (runner: GpuModelRunner) => {
        const live = ctx.liveBuffers.bytes;
        runner.dispose();
        await ctx.sync();
        return live - ctx.liveBuffers.bytes;
      };
      try {
        // (a) Logits of the packed weights match the CPU's f64 forward on their decoded values ...
        const chunk = [{ tokens: prompt, startPos: 0, blockTable }];
        const got = await packed.logits(chunk);
        const want = await cpu.logits(chunk);
        expect(relativeL2(got, want)).toBeLessThan(1e-4);
        // ... and greedy decoding picks the tokens the same weights as f32 give.
        expect(await greedy(packed, 24)).toEqual(await greedy(unpacked, 24));
        // (b) The quantized layers take their packed size on the GPU, nothing decoded beside it:
        // the f32 runner holds exactly 4 bytes per weight of them more.
        let saved = 0;
        for (const layer of written.quantized) {
          const info = source.tensors.get(layer)!;
          expect(isOneOf(GROUP_DTYPES, info.dtype)).toBe(true);
          saved += info.shape[0]! * info.shape[1]! * 4 - packedBytes(info);
          expect(packedBytes(info)).toBe(info.byteLength);
        }
        // Act-order runners also hold the input orders and the gathered inputs' scratch.
        if (scheme.method === 'awq' || !scheme.descAct) expect((await held(unpacked)) - (await held(packed))).toBe(saved);
        else expect(source.tensors.get('blk.0.attn_q.weight')!.inputOrder).toBeDefined();
      } finally {
        packed.dispose();
        unpacked.dispose();
        cpu.dispose();
      }
    } finally {
      await source.close();
      await f32.close();
    }
  });

  it('reads every linear layer of a synthetic model quantized (fused Q|K|V, SwiGLU gate/up, down; act-order too) with the CPU logits', async () => {
    const path = join(dir, 'synthetic.gguf');
    await writeSyntheticLlamaGguf(path, {
      dim: 128,
      numHeads: 4,
      numKvHeads: 2,
      hiddenDim: 256,
      numLayers: 2,
      vocabSize: 300,
      contextLength: 128,
      tiedEmbeddings: true,
      seed: 9,
      progress: false,
    });
    for (const [i, scheme] of [SCHEMES[0]![1], SCHEMES[3]![1], SCHEMES[4]![1]].entries()) {
      const out = join(dir, `synthetic-${i}`);
      const original = await openGgufWeightSource(path);
      const written = await writeIntCheckpoint(await directorySink(out), original, scheme).finally(() => original.close());
      expect(written.kept).toEqual([]);
      expect(written.quantized.length).toBe(2 * 7);
      const source = await openHfFolder(out);
      try {
        // The act-order checkpoint's every layer, Q|K|V and gate/up included, has an input order.
        const ordered = written.quantized.filter((name) => source.tensors.get(name)!.inputOrder !== undefined);
        expect(ordered.length).toBe(scheme.method === 'gptq' && scheme.descAct ? 2 * 7 : 0);
        const ours = await GpuModelRunner.load(ctx, source, opts);
        const reference = await CpuModelRunner.load(source, opts);
        try {
          for (const tokens of [[1, 40, 77, 260, 5, 299, 12], [7]]) {
            const chunk = [{ tokens, startPos: 0, blockTable }];
            expect(relativeL2(await ours.logits(chunk), await reference.logits(chunk))).toBeLessThan(1e-4);
          }
        } finally {
          ours.dispose();
          reference.dispose();
        }
      } finally {
        await source.close();
      }
    }
  });
});
