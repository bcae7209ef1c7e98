import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { detectModelFormat, isGgufFile, type ModelFormat } from './formats/convert/detect-format.js';
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

export interface OpenedModel {
  readonly format: ModelFormat;
  readonly source: WeightSource;
  readonly tokenizer: Tokenizer;
}

export interface OpenModelOptions {
  /** A tokenizer file to use instead of the model's own: llama2.c tokenizer.bin, tokenizer.json or a GGUF. */
  readonly tokenizerPath?: string;
}

/**
 * Opens a model and its tokenizer. The tokenizer comes from `tokenizerPath` when given, else from
 * the model (GGUF metadata, tokenizer.json of a Hugging Face folder); a llama2.c checkpoint carries
 * none. A tokenizer whose ids do not fit the model's vocabulary is refused.
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const { format, path: modelPath } = await detectModelFormat(path);
  let source: WeightSource;
  let ownTokenizer: (() => Promise<Tokenizer>) | undefined;
  if (format === 'gguf') {
    const file = await openGguf(modelPath);
    try {
      source = ggufWeightSource(file);
    } catch (error) {
      await file.close();
      throw error;
    }
    ownTokenizer = async () => tokenizerFromGguf(file.metadata);
  } else if (format === 'hf') {
    source = await openHfFolder(modelPath);
    ownTokenizer = async () => tokenizerFromHfFolder(modelPath);
  } else {
    source = await openLlama2cCheckpoint(modelPath);
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
  const { format, path } = await detectModelFormat(modelPath);
  if (format === 'hf') return tokenizerFromHfFolder(path);
  if (format === 'gguf') {
    const file = await openGguf(path);
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
  if (await isGgufFile(path)) return openTokenizer(path);
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
