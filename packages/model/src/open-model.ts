import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from './formats/errors.js';
import { ggufWeightSource } from './formats/gguf/gguf-weight-source.js';
import { openGguf } from './formats/gguf/gguf-file.js';
import { openHfFolder } from './formats/hf/hf-weight-source.js';
import { openLlama2cCheckpoint } from './formats/llama2c/llama2c-checkpoint.js';
import { readLlama2cTokenizer } from './formats/llama2c/llama2c-tokenizer.js';
import type { WeightSource } from './formats/weight-source.js';
import { tokenizerFromGguf } from './tokenizer/gguf-tokenizer.js';
import { tokenizerFromJson } from './tokenizer/hf-tokenizer.js';
import { tokenizerFromLlama2c } from './tokenizer/llama2c-vocabulary.js';
import { checkTokenizerFitsModel } from './tokenizer/tokenizer-model-fit.js';
import type { Tokenizer } from './tokenizer/tokenizer.js';

export type ModelFormat = 'gguf' | 'llama2c' | 'hf';

export interface OpenedModel {
  readonly format: ModelFormat;
  readonly source: WeightSource;
  readonly tokenizer: Tokenizer;
}

export interface OpenModelOptions {
  /** A tokenizer file to use instead of the model's own: llama2.c tokenizer.bin, tokenizer.json or a GGUF. */
  readonly tokenizerPath?: string;
}

/** What a path holds, by its content: a GGUF file, a Hugging Face folder, or a llama2.c checkpoint. */
export async function detectModelFormat(path: string): Promise<ModelFormat> {
  const info = await stat(path);
  if (info.isDirectory()) return 'hf';
  return (await hasGgufMagic(path)) ? 'gguf' : 'llama2c';
}

/**
 * Opens a model and its tokenizer. The tokenizer comes from `tokenizerPath` when given, else from
 * the model (GGUF metadata, tokenizer.json of a Hugging Face folder); a llama2.c checkpoint carries
 * none. A tokenizer whose ids do not fit the model's vocabulary is refused.
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const format = await detectModelFormat(path);
  let source: WeightSource;
  let ownTokenizer: (() => Promise<Tokenizer>) | undefined;
  if (format === 'gguf') {
    const file = await openGguf(path);
    try {
      source = ggufWeightSource(file);
    } catch (error) {
      await file.close();
      throw error;
    }
    ownTokenizer = async () => tokenizerFromGguf(file.metadata);
  } else if (format === 'hf') {
    source = await openHfFolder(path);
    ownTokenizer = async () => tokenizerFromHfFolder(path);
  } else {
    source = await openLlama2cCheckpoint(path);
  }
  try {
    let tokenizer: Tokenizer;
    if (options.tokenizerPath !== undefined) tokenizer = await openTokenizerFile(options.tokenizerPath);
    else if (ownTokenizer) tokenizer = await ownTokenizer();
    else {
      throw new ModelFileError(
        'a llama2.c checkpoint carries no tokenizer: pass its tokenizer.bin with --tokenizer',
        path,
      );
    }
    checkTokenizerFitsModel(tokenizer, source.config.vocabSize);
    return { format, source, tokenizer };
  } catch (error) {
    await source.close();
    throw error;
  }
}

/**
 * A tokenizer alone: from `tokenizerPath` when given, else from the model file (a GGUF, also a
 * vocabulary-only one, or a Hugging Face folder with tokenizer.json).
 */
export async function openTokenizer(modelPath?: string, tokenizerPath?: string): Promise<Tokenizer> {
  if (tokenizerPath !== undefined) return openTokenizerFile(tokenizerPath);
  if (modelPath === undefined) throw new ModelFileError('no model or tokenizer path given', '');
  const format = await detectModelFormat(modelPath);
  if (format === 'hf') return tokenizerFromHfFolder(modelPath);
  if (format === 'gguf') {
    const file = await openGguf(modelPath);
    try {
      return tokenizerFromGguf(file.metadata);
    } finally {
      await file.close();
    }
  }
  throw new ModelFileError('a llama2.c checkpoint carries no tokenizer: pass its tokenizer.bin with --tokenizer', modelPath);
}

async function openTokenizerFile(path: string): Promise<Tokenizer> {
  const info = await stat(path);
  if (info.isDirectory()) return tokenizerFromHfFolder(path);
  if (await hasGgufMagic(path)) return openTokenizer(path);
  if (path.endsWith('.json')) return tokenizerFromJson(await readJson(path));
  return tokenizerFromLlama2c(await readLlama2cTokenizer(path));
}

async function tokenizerFromHfFolder(dir: string): Promise<Tokenizer> {
  const json = await readJson(join(dir, 'tokenizer.json')).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'ENOENT') {
      throw new ModelFileError(`${dir} has no tokenizer.json: pass a tokenizer with --tokenizer`, dir);
    }
    throw error;
  });
  const config = await readJson(join(dir, 'tokenizer_config.json')).catch(() => undefined);
  return tokenizerFromJson(json, config);
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(`${path} is not valid JSON (${(error as Error).message})`, path);
  }
}

async function hasGgufMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    return bytesRead === 4 && magic.toString('latin1') === 'GGUF';
  } finally {
    await handle.close();
  }
}
