import { stat } from 'node:fs/promises';
import { fileSystemError } from './file-system-error.js';
import { basename, dirname, extname, join } from 'node:path';
import { ModelConvertError } from '../convert/model-convert-error.js';
import { HF_CONFIG_FILE } from '../hf/hf-weight-source.js';
import { llama2cHeaderBytes, parseLlama2cHeader } from '../llama2c/llama2c-checkpoint.js';
import { startsWithGgufMagic, type ModelFormat } from '../model-format.js';
import { fileSource } from './file-source.js';

export interface DetectedModel {
  readonly format: ModelFormat;
  /** The file to open, or for Hugging Face the folder (also when a file inside it was named). */
  readonly path: string;
}

/**
 * Tells a model's format: a folder with config.json (or a .safetensors / config.json inside one)
 * is Hugging Face, a file starting with "GGUF" is GGUF, a file whose first 28 bytes are a sane
 * llama2.c header (or any .bin) is a llama2.c checkpoint.
 */
export async function detectModelFormat(path: string): Promise<DetectedModel> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    throw fileSystemError(error, path);
  }
  const name = basename(path);
  if (
    isDirectory ||
    name === HF_CONFIG_FILE ||
    name.endsWith('.safetensors') ||
    name.endsWith('.safetensors.index.json')
  ) {
    const dir = isDirectory ? path : dirname(path);
    const hasConfig = await stat(join(dir, HF_CONFIG_FILE)).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!hasConfig) {
      throw new ModelConvertError(`no ${HF_CONFIG_FILE} here: not a Hugging Face model folder`, dir);
    }
    return { format: 'hf', path: dir };
  }
  const head = await readHead(path, llama2cHeaderBytes);
  if (startsWithGgufMagic(head)) return { format: 'gguf', path };
  // A .bin that is not a valid checkpoint then gets the llama2.c reader's precise error.
  if (extname(path) === '.bin') return { format: 'llama2c', path };
  try {
    parseLlama2cHeader(head, path);
    return { format: 'llama2c', path };
  } catch {
    throw new ModelConvertError(
      'not a recognised model: expected a GGUF file, a llama2.c checkpoint (.bin) or a Hugging Face folder with config.json',
      path,
    );
  }
}

/** Whether a file starts with the GGUF magic; a file that cannot be read is a ModelConvertError. */
export async function isGgufFile(path: string): Promise<boolean> {
  return startsWithGgufMagic(await readHead(path, 4));
}

async function readHead(path: string, bytes: number): Promise<Uint8Array> {
  try {
    const source = await fileSource(path);
    try {
      return await source.read(0, bytes);
    } finally {
      await source.close();
    }
  } catch (error) {
    throw new ModelConvertError(`cannot read the file (${(error as Error).message})`, path);
  }
}
