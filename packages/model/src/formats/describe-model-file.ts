import { open } from 'node:fs/promises';
import { ModelFileError } from './errors.js';
import { openGguf } from './gguf/gguf-file.js';
import type { GgufArray, GgufValue } from './gguf/gguf-value.js';
import { llamaConfigFromGguf } from './gguf/gguf-weight-source.js';
import { openLlama2cCheckpoint } from './llama2c/llama2c-checkpoint.js';
import type { LlamaConfig } from './weight-source.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface ModelFileSummary {
  readonly format: 'gguf' | 'llama2c';
  readonly path: string;
  readonly fileBytes: number;
  /** Format version (GGUF only). */
  readonly version?: number;
  /** Metadata as JSON: arrays cut to their first items, with their full length. */
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
 * metadata, the Llama config it maps to, and every tensor with its type, shape and size.
 */
export async function describeModelFile(path: string): Promise<ModelFileSummary> {
  const handle = await open(path, 'r');
  const magic = new Uint8Array(4);
  let fileBytes: number;
  try {
    fileBytes = (await handle.stat()).size;
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (new TextDecoder().decode(magic) === 'GGUF') {
    const file = await openGguf(path);
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
    checkpoint = await openLlama2cCheckpoint(path);
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
