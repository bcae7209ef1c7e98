import * as z from 'zod/mini';
import { UnsupportedModelError } from '../errors.js';
import { readText } from '../io/byte-source.js';
import type { ModelFolder } from '../io/model-folder.js';
import { tensorDtypeOf } from '../safetensors/safetensors-dtype.js';
import { openSafetensorsSource, type SafetensorsFile } from '../safetensors/safetensors-reader.js';
import type { TensorInfo, WeightSource } from '../weight-source.js';
import { llamaConfigFromHf } from './hf-config.js';
import { HfFormatError } from './hf-format-error.js';
import { ggufNameOf } from './hf-tensor-names.js';
import { englishMessages } from '../zod-messages.js';
import { expectedLlamaShapes } from '../gguf/gguf-weight-source.js';
import { parseIntQuantization, type IntQuantization } from '../quantized/quantization-config.js';
import { quantizedLinearTensor } from '../quantized/quantized-linear-source.js';

export const HF_CONFIG_FILE = 'config.json';
export const HF_WEIGHTS_FILE = 'model.safetensors';
export const HF_INDEX_FILE = 'model.safetensors.index.json';
/** GPTQModel and AutoGPTQ also write the quantization settings here, beside config.json. */
export const HF_QUANTIZE_CONFIG_FILE = 'quantize_config.json';

const indexSchema = z.looseObject({
  weight_map: z.record(
    z.string(),
    z.string().check(
      z.refine((file) => !file.includes('/') && file !== '..' && !file.includes('\\'), {
        message: 'shard names must be plain file names inside the folder',
      }),
    ),
  ),
});

interface Located {
  readonly info: TensorInfo;
  read(): Promise<Float32Array | Uint16Array | Uint8Array>;
}

const QWEIGHT = '.qweight';

/**
 * Opens a Hugging Face Llama / Mistral / Qwen2 folder (config.json plus model.safetensors or a
 * sharded model.safetensors.index.json) as a WeightSource with GGUF tensor names. Every tensor the
 * config implies is checked for presence, dtype and shape before this returns. A GPTQ or AWQ
 * checkpoint (config.json's `quantization_config`) gives its quantized layers as tensors of a
 * group type (`w4g128`, ...), read as blocks without decoding (see the README's packings).
 */
export async function openHfFolderSource(folder: ModelFolder): Promise<WeightSource> {
  const dir = folder.name;
  const configPath = `${dir}/${HF_CONFIG_FILE}`;
  const configJson = await readJson(folder, HF_CONFIG_FILE, 'config-missing', 'config-invalid');
  const config = llamaConfigFromHf(configJson, configPath);

  const shards = new Map<string, SafetensorsFile>();
  try {
    const hfNames = await openShards(folder, shards);
    const expected = expectedLlamaShapes(config);
    const tensors = new Map<string, Located>();
    const quantizedBases: string[] = [];
    for (const [hfName, shard] of hfNames) {
      if (hfName.endsWith(QWEIGHT)) quantizedBases.push(hfName.slice(0, -QWEIGHT.length));
      const name = ggufNameOf(hfName);
      if (name === undefined || !expected.has(name)) continue;
      const entry = shard.tensors.get(hfName)!;
      const dtype = tensorDtypeOf(entry.dtype);
      if (dtype === undefined) {
        throw new UnsupportedModelError(
          `${hfName} is ${entry.dtype}; weights must be F32, F16 or BF16`,
          shard.path,
        );
      }
      const shape = expected.get(name)!;
      if (shape.length !== entry.shape.length || shape.some((d, i) => d !== entry.shape[i])) {
        throw new HfFormatError(
          shard.path,
          'tensor-shape',
          `${hfName} has shape [${entry.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
        );
      }
      tensors.set(name, {
        info: { name, dtype, shape: entry.shape, byteLength: entry.byteLength },
        read: () => shard.read(hfName),
      });
    }
    // Read only when there are packed layers: a float checkpoint keeps loading whatever its
    // config says of a quantization it no longer carries.
    const quantization = quantizedBases.length > 0 ? await readQuantization(folder, configJson) : undefined;
    for (const base of quantizedBases) {
      const name = ggufNameOf(`${base}.weight`);
      if (name === undefined || !expected.has(name)) continue;
      if (quantization === undefined) {
        throw new HfFormatError(
          configPath,
          'config-invalid',
          `${base}${QWEIGHT} is a quantized layer, but config.json has no quantization_config saying how it is packed`,
        );
      }
      if (tensors.has(name)) {
        throw new HfFormatError(dir, 'tensor-shape', `${base} has both a weight and a qweight; keep one`);
      }
      const shape = expected.get(name)!;
      const find = (hfName: string) => {
        const shard = hfNames.get(hfName);
        const entry = shard?.tensors.get(hfName);
        return shard && entry ? { entry, path: shard.path, readBytes: () => shard.readBytes(hfName) } : undefined;
      };
      const layer = await quantizedLinearTensor(quantization, base, name, [shape[0]!, shape[1]!], find, dir);
      tensors.set(name, layer);
    }
    const missing = [...expected.keys()].filter((name) => !tensors.has(name));
    if (missing.length > 0) {
      throw new HfFormatError(
        dir,
        'tensor-missing',
        `${missing.length} tensor(s) that config.json implies are missing, e.g. ${missing.slice(0, 3).join(', ')} (GGUF names)`,
      );
    }
    // Keep the canonical order of expectedLlamaShapes so writers emit tensors in a stable order.
    const ordered = new Map([...expected.keys()].map((name) => [name, tensors.get(name)!] as const));
    return {
      config,
      tensors: new Map([...ordered].map(([name, located]) => [name, located.info] as const)),
      read: async (name) => {
        const located = ordered.get(name);
        if (located === undefined)
          throw new HfFormatError(dir, 'unknown-tensor', `no tensor named "${name}"`);
        return located.read();
      },
      close: async () => {
        await Promise.all([...shards.values()].map((shard) => shard.close()));
      },
    };
  } catch (error) {
    await Promise.all([...shards.values()].map((shard) => shard.close()));
    throw error;
  }
}

/** Opens model.safetensors, or every shard of the index; returns each Hugging Face tensor name with its shard. */
async function openShards(
  folder: ModelFolder,
  shards: Map<string, SafetensorsFile>,
): Promise<Map<string, SafetensorsFile>> {
  const dir = folder.name;
  const single = await folder.open(HF_WEIGHTS_FILE);
  if (single !== undefined) {
    const file = await openSafetensorsSource(single);
    shards.set(HF_WEIGHTS_FILE, file);
    return new Map([...file.tensors.keys()].map((name) => [name, file] as const));
  }
  const indexPath = `${dir}/${HF_INDEX_FILE}`;
  const index = await readJson(folder, HF_INDEX_FILE, 'weights-missing', 'index-invalid');
  const parsed = indexSchema.safeParse(index, { error: englishMessages });
  if (!parsed.success) {
    throw new HfFormatError(indexPath, 'index-invalid', z.prettifyError(parsed.error));
  }
  const located = new Map<string, SafetensorsFile>();
  for (const [hfName, shardName] of Object.entries(parsed.data.weight_map)) {
    let shard = shards.get(shardName);
    if (shard === undefined) {
      const source = await folder.open(shardName);
      if (source === undefined) {
        throw new HfFormatError(
          indexPath,
          'index-invalid',
          `weight_map names ${shardName}, which is not in the folder`,
        );
      }
      shard = await openSafetensorsSource(source);
      shards.set(shardName, shard);
    }
    if (!shard.tensors.has(hfName)) {
      throw new HfFormatError(
        indexPath,
        'index-invalid',
        `weight_map puts ${hfName} in ${shardName}, which does not hold it`,
      );
    }
    located.set(hfName, shard);
  }
  return located;
}

/** config.json's quantization_config, else quantize_config.json's settings, else undefined (a float checkpoint). */
async function readQuantization(folder: ModelFolder, configJson: unknown): Promise<IntQuantization | undefined> {
  const inConfig = (configJson as { quantization_config?: unknown } | null)?.quantization_config;
  if (inConfig !== undefined && inConfig !== null) {
    return parseIntQuantization(inConfig, `${folder.name}/${HF_CONFIG_FILE}`);
  }
  const source = await folder.open(HF_QUANTIZE_CONFIG_FILE);
  if (source === undefined) return undefined;
  await source.close();
  const json = await readJson(folder, HF_QUANTIZE_CONFIG_FILE, 'config-missing', 'config-invalid');
  // quantize_config.json names no method; GPTQ's tools write it (AutoAWQ writes quant_config.json).
  return parseIntQuantization({ quant_method: 'gptq', ...(json as object) }, `${folder.name}/${HF_QUANTIZE_CONFIG_FILE}`);
}

async function readJson(
  folder: ModelFolder,
  fileName: string,
  missing: 'config-missing' | 'weights-missing',
  invalid: 'config-invalid' | 'index-invalid',
): Promise<unknown> {
  const path = `${folder.name}/${fileName}`;
  const source = await folder.open(fileName);
  if (source === undefined) {
    throw new HfFormatError(
      missing === 'weights-missing' ? folder.name : path,
      missing,
      missing === 'weights-missing'
        ? `neither ${HF_WEIGHTS_FILE} nor ${HF_INDEX_FILE} is there; only safetensors checkpoints are supported (convert pytorch_model.bin first)`
        : `cannot read ${fileName}: the folder has none`,
    );
  }
  let text: string;
  try {
    text = await readText(source);
  } finally {
    await source.close();
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new HfFormatError(path, invalid, `${fileName} is not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
}
