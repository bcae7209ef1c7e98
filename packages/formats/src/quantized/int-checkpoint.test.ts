import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dequantize, errorCodeOf, f16BitsToF32 } from '@llm/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permuteRopeRows } from '../convert/rope-permutation.js';
import { HfFormatError } from '../hf/hf-format-error.js';
import { convertModel, directorySink, openGgufWeightSource, openHfFolder, openSafetensors, writeSafetensors } from '../node/index.js';
import type { SafetensorsTensorSource } from '../safetensors/safetensors-writer.js';
import { modelFile, normOrder, quantizeRtn, writeIntCheckpoint, type IntCheckpointScheme } from '../testing/index.js';
import { restoreInputOrder } from './int-packing.js';
import type { WeightSource } from '../weight-source.js';
import { parseIntQuantization } from './quantization-config.js';

const gguf = modelFile('stories260K.gguf');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'int-checkpoint-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withSource<T>(open: Promise<WeightSource>, use: (s: WeightSource) => Promise<T>): Promise<T> {
  const s = await open;
  try {
    return await use(s);
  } finally {
    await s.close();
  }
}

async function write(name: string, scheme: IntCheckpointScheme) {
  const out = join(dir, name);
  const result = await withSource(openGgufWeightSource(gguf!), async (src) => writeIntCheckpoint(await directorySink(out), src, scheme));
  return { out, result };
}

/** Rewrites a folder's model.safetensors through `edit` (tensors by name, as stored). */
async function rewrite(folder: string, edit: (tensors: Map<string, SafetensorsTensorSource>) => void): Promise<void> {
  const path = join(folder, 'model.safetensors');
  const file = await openSafetensors(path);
  const tensors = new Map<string, SafetensorsTensorSource>();
  for (const [name, t] of file.tensors) {
    const b = (await file.readBytes(name)).slice();
    const data = t.dtype === 'I32' ? new Int32Array(b.buffer) : t.dtype === 'F16' ? new Uint16Array(b.buffer) : new Float32Array(b.buffer);
    tensors.set(name, { name, dtype: t.dtype === 'I32' ? 'i32' : t.dtype === 'F16' ? 'f16' : 'f32', shape: t.shape, data });
  }
  await file.close();
  edit(tensors);
  await writeSafetensors(path, [...tensors.values()]);
}

async function editConfig(folder: string, edit: (q: Record<string, unknown>) => void): Promise<void> {
  const path = join(folder, 'config.json');
  const json = JSON.parse(await readFile(path, 'utf8')) as { quantization_config: Record<string, unknown> };
  edit(json.quantization_config);
  await writeFile(path, JSON.stringify(json));
}

const SCHEMES: readonly [string, IntCheckpointScheme, string][] = [
  ['gptq-v1-w4g32-sym', { method: 'gptq', bits: 4, groupSize: 32, checkpointFormat: 'gptq', sym: true }, 'w4g32'],
  ['gptq-v1-w4-per-channel', { method: 'gptq', bits: 4, groupSize: -1, checkpointFormat: 'gptq', sym: true }, 'w4g64'],
  ['gptq-v2-w3g32', { method: 'gptq', bits: 3, groupSize: 32, checkpointFormat: 'gptq_v2', sym: false }, 'w3g32'],
  ['awq-w4g64', { method: 'awq', groupSize: 64 }, 'w4g64'],
  ['efficientqat-w2g64', { method: 'gptq', bits: 2, groupSize: 64, checkpointFormat: 'gptq_v2', sym: false }, 'w2g64'],
  ['efficientqat-w3g128', { method: 'gptq', bits: 3, groupSize: 128, checkpointFormat: 'gptq_v2', sym: false }, 'w3g64'],
];

describe.skipIf(!gguf)('GPTQ and AWQ checkpoints of stories260K', () => {
  it.each(SCHEMES)('%s: reads each quantized layer as group blocks holding its values exactly', async (name, scheme, dtype) => {
    const { out, result } = await write(name, scheme);
    // dim 64 layers fit every packing; the 172-wide feed-forward does not (172 * bits is not whole words).
    expect(result.quantized).toHaveLength(5 * 4);
    expect(result.kept).toHaveLength(5 * 3);
    const bits = scheme.method === 'awq' ? 4 : scheme.bits;
    await withSource(openGgufWeightSource(gguf!), (original) =>
      withSource(openHfFolder(out), async (hf) => {
        for (const layer of result.quantized) {
          const info = hf.tensors.get(layer)!;
          expect(info.dtype).toBe(dtype);
          const [rows, cols] = info.shape as [number, number];
          // The checkpoint's values: RTN of the original weights (in the half-split layout), dequantized in f64.
          let w = (await original.read(layer)) as Float32Array;
          const kind = /attn_(q|k)\./.exec(layer)?.[1];
          if (kind) w = permuteRopeRows(w, info.shape, kind === 'q' ? 8 : 4, 'adjacent', 'halfSplit');
          const q = quantizeRtn(w, rows, cols, bits, scheme.groupSize, scheme.method === 'gptq' && scheme.sym);
          const got = dequantize(info.dtype, (await hf.read(layer)) as Uint8Array, rows * cols);
          for (let i = 0; i < rows * cols; i++) {
            const g = Math.floor((i % cols) / q.groupSize) * rows + Math.floor(i / cols);
            const want = Math.fround((q.levels[i]! - q.zeros[g]!) * f16BitsToF32(q.scales[g]!));
            if (got[i] !== want) expect(`${layer}[${i}] = ${got[i]}`).toBe(`${layer}[${i}] = ${want}`);
          }
        }
        for (const layer of result.kept) expect(hf.tensors.get(layer)!.dtype).toBe('f32');
      }),
    );
  });

  it('refuses a layer without qzeros, naming the tensor', async () => {
    const { out } = await write('missing-qzeros', SCHEMES[2]![1]);
    await rewrite(out, (t) => t.delete('model.layers.3.self_attn.k_proj.qzeros'));
    const error = await openHfFolder(out).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HfFormatError);
    expect((error as HfFormatError).problem).toBe('tensor-missing');
    expect((error as Error).message).toContain('model.layers.3.self_attn.k_proj.qzeros is missing');
  });

  it('refuses scales whose shape disagrees with the config group size', async () => {
    const { out } = await write('wrong-group', SCHEMES[0]![1]);
    await editConfig(out, (q) => (q['group_size'] = 64));
    const error = await openHfFolder(out).catch((e: unknown) => e);
    expect((error as HfFormatError).problem).toBe('tensor-shape');
    expect((error as Error).message).toContain("q_proj.qzeros has shape [2, 8]; gptq 4-bit packing of a [64, 64] weight in groups of 64 gives [1, 8]");
  });

  it('reads an act-order layer with its columns sorted by group and their input order', async () => {
    const scheme = { method: 'gptq', bits: 4, groupSize: 32, checkpointFormat: 'gptq', sym: true, descAct: true } as const;
    const { out, result } = await write('act-order', scheme);
    await withSource(openGgufWeightSource(gguf!), (original) =>
      withSource(openHfFolder(out), async (hf) => {
        for (const layer of result.quantized) {
          const info = hf.tensors.get(layer)!;
          expect(info.inputOrder).toBeDefined();
          const [rows, cols] = info.shape as [number, number];
          let w = (await original.read(layer)) as Float32Array;
          const kind = /attn_(q|k)\./.exec(layer)?.[1];
          if (kind) w = permuteRopeRows(w, info.shape, kind === 'q' ? 8 : 4, 'adjacent', 'halfSplit');
          // Q, K and V share their input and so their order: that of the RMSNorm weight before them.
          const block = layer.slice(0, layer.indexOf('.attn_'));
          const order = layer.endsWith('attn_output.weight')
            ? normOrder(w, rows, cols)
            : normOrder((await original.read(`${block}.attn_norm.weight`)) as Float32Array, 1, cols);
          expect([...info.inputOrder!]).toEqual([...sortedByGroup(order, 32)]);
          const q = quantizeRtn(w, rows, cols, 4, 32, true, order);
          const got = restoreInputOrder(dequantize(info.dtype, (await hf.read(layer)) as Uint8Array, rows * cols), rows, cols, info.inputOrder!);
          for (let i = 0; i < rows * cols; i++) {
            const g = q.gIdx![i % cols]! * rows + Math.floor(i / cols);
            const want = Math.fround((q.levels[i]! - q.zeros[g]!) * f16BitsToF32(q.scales[g]!));
            if (got[i] !== want) expect(`${layer}[${i}] = ${got[i]}`).toBe(`${layer}[${i}] = ${want}`);
          }
        }
      }),
    );
  });

  it('converts an act-order checkpoint to GGUF with every layer in the model input order', async () => {
    const scheme = { method: 'gptq', bits: 3, groupSize: 32, checkpointFormat: 'gptq_v2', sym: false, descAct: true } as const;
    const { out } = await write('act-order-convert', scheme);
    const path = join(dir, 'act-order.gguf');
    await convertModel(out, path, { type: 'f32', tokenizerPath: gguf! });
    await withSource(openHfFolder(out), (hf) =>
      withSource(openGgufWeightSource(path), async (converted) => {
        const info = hf.tensors.get('blk.2.attn_output.weight')!;
        expect(info.inputOrder).toBeDefined();
        const [rows, cols] = info.shape as [number, number];
        const want = restoreInputOrder(dequantize(info.dtype, (await hf.read(info.name)) as Uint8Array, rows * cols), rows, cols, info.inputOrder!);
        expect(Array.from((await converted.read(info.name)) as Float32Array)).toEqual(Array.from(want));
      }),
    );
  });

  it('refuses a g_idx that is no grouping in groups of group_size, naming the group', async () => {
    const { out } = await write('bad-g-idx', SCHEMES[0]![1]);
    await rewrite(out, (t) => (t.get('model.layers.0.self_attn.q_proj.g_idx')!.data as Int32Array).fill(0));
    const error = await openHfFolder(out).catch((e: unknown) => e);
    expect(errorCodeOf(error)).toBe('unsupported');
    expect((error as Error).message).toMatch(/q_proj\.g_idx puts 64 inputs in group 0, not 32/);
  });

  it('takes the settings from quantize_config.json when config.json has none', async () => {
    const { out } = await write('quantize-config', SCHEMES[4]![1]);
    const path = join(out, 'config.json');
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    // GPTQ's tools write no quant_method there.
    const settings = { ...(json['quantization_config'] as Record<string, unknown>) };
    delete settings['quant_method'];
    delete json['quantization_config'];
    await writeFile(path, JSON.stringify(json));
    await writeFile(join(out, 'quantize_config.json'), JSON.stringify(settings));
    await withSource(openHfFolder(out), async (hf) => {
      expect(hf.tensors.get('blk.2.attn_v.weight')!.dtype).toBe('w2g64');
    });
  });

  it('refuses quantized layers without a quantization_config', async () => {
    const { out } = await write('no-config', SCHEMES[3]![1]);
    const path = join(out, 'config.json');
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    delete json['quantization_config'];
    await writeFile(path, JSON.stringify(json));
    const error = await openHfFolder(out).catch((e: unknown) => e);
    expect((error as HfFormatError).problem).toBe('config-invalid');
    expect((error as Error).message).toContain('qweight is a quantized layer, but config.json has no quantization_config');
  });
});

/** Inputs in group order (group of the input at position p of `order`: p / g), stable within a group. */
function sortedByGroup(order: Uint32Array, g: number): Uint32Array {
  const group = new Int32Array(order.length);
  order.forEach((k, p) => (group[k] = Math.floor(p / g)));
  return Uint32Array.from({ length: order.length }, (_, k) => k).sort((a, b) => group[a]! - group[b]! || a - b);
}

describe('quantization_config', () => {
  const unsupported = (json: unknown) => {
    try {
      parseIntQuantization(json, 'config.json');
    } catch (error) {
      return `${errorCodeOf(error)}: ${(error as Error).message}`;
    }
    return 'accepted';
  };

  it('reads GPTQ v1 and v2, per-channel groups, and AWQ GEMM', () => {
    expect(parseIntQuantization({ quant_method: 'gptq', bits: 4, group_size: 128, desc_act: false }, 'c')).toEqual({
      method: 'gptq',
      bits: 4,
      groupSize: 128,
      checkpointFormat: 'gptq',
      descAct: false,
    });
    expect(parseIntQuantization({ quant_method: 'gptq', bits: 2, group_size: -1, checkpoint_format: 'gptq_v2' }, 'c')).toMatchObject({
      groupSize: Infinity,
      checkpointFormat: 'gptq_v2',
    });
    expect(parseIntQuantization({ quant_method: 'awq', bits: 4, group_size: 128, version: 'GEMM', zero_point: true }, 'c')).toEqual({
      method: 'awq',
      bits: 4,
      groupSize: 128,
    });
  });

  it('refuses what it cannot read as unsupported, naming the setting', () => {
    expect(unsupported({ quant_method: 'gptq', bits: 8, group_size: 128 })).toMatch(/^unsupported: .*8 bits.*must be 2, 3 or 4/);
    expect(unsupported({ quant_method: 'awq', bits: 4, group_size: 128, version: 'gemv' })).toMatch(/^unsupported: .*"gemv".*GEMM/);
    expect(unsupported({ quant_method: 'awq', bits: 4, group_size: 128, zero_point: false })).toMatch(/^unsupported: .*zero_point false/);
    expect(unsupported({ quant_method: 'bitsandbytes', bits: 4 })).toMatch(/^unsupported: .*"bitsandbytes"/);
    expect(unsupported({ quant_method: 'gptq', bits: 4, group_size: 48 })).toMatch(/^unsupported: .*group_size 48 is not read/);
    expect(unsupported({ quant_method: 'gptq', bits: 4, group_size: 128, checkpoint_format: 'marlin' })).toMatch(/^unsupported: .*"marlin"/);
    expect(unsupported({ bits: 4 })).toMatch(/^invalid_argument: .*quantization_config is malformed/);
  });
});
