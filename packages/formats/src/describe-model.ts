import { ModelFileError } from './errors.js';
import { openGgufSource } from './gguf/gguf-file.js';
import type { GgufArray, GgufValue } from './gguf/gguf-value.js';
import { llamaConfigFromGguf } from './gguf/gguf-weight-source.js';
import { HF_CONFIG_FILE } from './hf/hf-weight-source.js';
import { optionalJson } from './hf/hf-tokenizer-files.js';
import { openHfFolderSource } from './hf/hf-weight-source.js';
import type { ByteSource } from './io/byte-source.js';
import type { ModelFolder } from './io/model-folder.js';
import { openLlama2cCheckpointSource } from './llama2c/llama2c-checkpoint.js';
import { startsWithGgufMagic } from './model-format.js';
import type { LlamaConfig } from './weight-source.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface ModelFileSummary {
  readonly format: 'gguf' | 'llama2c' | 'hf';
  readonly path: string;
  /** Size of the file; for a Hugging Face folder, the bytes of its tensors. */
  readonly fileBytes: number;
  /** Format version (GGUF only). */
  readonly version?: number;
  /** Metadata as JSON: arrays cut to their first items, with their full length; config.json for a folder. */
  readonly metadata: Record<string, JsonValue>;
  /** The Llama-family config, when the file maps to one. */
  readonly config?: LlamaConfig;
  /** Why there is no config, when there is none. */
  readonly configError?: string;
  readonly tensors: readonly { name: string; dtype: string; shape: number[]; bytes: number }[];
}

// Enough of a vocabulary or score table to recognise it in `llm info` output.
const arrayItemsShown = 8;

function jsonScalar(value: number | bigint | boolean | string): JsonValue {
  if (typeof value !== 'bigint') return value;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

function jsonArray(array: GgufArray): JsonValue {
  const shown: JsonValue[] = [];
  const items = array.value as ArrayLike<number | bigint | boolean | string | GgufArray>;
  for (let i = 0; i < Math.min(items.length, arrayItemsShown); i++) {
    const item = items[i];
    if (item === undefined) continue;
    shown.push(typeof item === 'object' ? jsonArray(item) : jsonScalar(item));
  }
  return { itemType: array.itemType, length: array.value.length, items: shown };
}

function jsonValue(value: GgufValue): JsonValue {
  return value.type === 'array' ? jsonArray(value) : jsonScalar(value.value);
}

/**
 * A JSON-able summary of a model file (GGUF or llama2.c checkpoint) for `llm info`: format,
 * metadata, the Llama config it maps to, and every tensor with its type, shape and size. The
 * source is closed when done.
 */
export async function describeModelSource(source: ByteSource): Promise<ModelFileSummary> {
  const path = source.name;
  const fileBytes = source.size;
  let magic: Uint8Array;
  try {
    magic = await source.read(0, 4);
  } catch (error) {
    await source.close();
    throw error;
  }
  if (startsWithGgufMagic(magic)) {
    const file = await openGgufSource(source);
    try {
      let config: LlamaConfig | undefined;
      let configError: string | undefined;
      try {
        config = llamaConfigFromGguf(file);
      } catch (error) {
        if (!(error instanceof ModelFileError)) throw error;
        configError = error.message;
      }
      return {
        format: 'gguf',
        path,
        fileBytes,
        version: file.version,
        metadata: Object.fromEntries([...file.metadata].map(([k, v]) => [k, jsonValue(v)])),
        ...(config ? { config } : {}),
        ...(configError === undefined ? {} : { configError }),
        tensors: file.tensors.map((t) => ({
          name: t.name,
          dtype: t.ggmlType,
          shape: [...t.shape],
          bytes: t.byteLength,
        })),
      };
    } finally {
      await file.close();
    }
  }
  let checkpoint;
  try {
    checkpoint = await openLlama2cCheckpointSource(source);
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
    throw new ModelFileError(
      `${path}: not a recognised model file (neither GGUF nor a llama2.c checkpoint: ${error.message})`,
      path,
    );
  }
  try {
    const { header } = checkpoint;
    return {
      format: 'llama2c',
      path,
      fileBytes,
      metadata: { ...header },
      config: checkpoint.config,
      tensors: [...checkpoint.tensors.values()].map((t) => ({
        name: t.name,
        dtype: 'F32',
        shape: [...t.shape],
        bytes: t.byteLength,
      })),
    };
  } finally {
    await checkpoint.close();
  }
}

/**
 * A summary of a Hugging Face folder in the same shape: config.json as metadata, the Llama config
 * it maps to, and every tensor under its GGUF name.
 */
export async function describeModelFolder(folder: ModelFolder): Promise<ModelFileSummary> {
  const metadata = (await optionalJson(folder, HF_CONFIG_FILE)) as Record<string, JsonValue> | undefined;
  const source = await openHfFolderSource(folder);
  try {
    const tensors = [...source.tensors.values()].map((t) => ({
      name: t.name,
      dtype: t.dtype.toUpperCase(),
      shape: [...t.shape],
      bytes: t.byteLength,
    }));
    return {
      format: 'hf',
      path: folder.name,
      fileBytes: tensors.reduce((n, t) => n + t.bytes, 0),
      metadata: metadata ?? {},
      config: source.config,
      tensors,
    };
  } finally {
    await source.close();
  }
}
