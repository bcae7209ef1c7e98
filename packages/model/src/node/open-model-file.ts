import { ModelFileError } from '@llm/formats';
import { detectModelFormat, directoryFolder, fileSource, fileSystemError } from '@llm/formats/node';
import type { Tokenizer } from '@llm/tokenizer';
import { stat } from 'node:fs/promises';
import {
  missingTokenizerError,
  openModelFrom,
  openTokenizerFrom,
  type ModelInput,
  type OpenedModel,
} from '../open-model.js';

export interface OpenModelOptions {
  /** A tokenizer file to use instead of the model's own: llama2.c tokenizer.bin, tokenizer.json, a GGUF or a folder. */
  readonly tokenizerPath?: string;
}

/**
 * Opens a model file or Hugging Face folder on disk with its tokenizer (see openModelFrom); the
 * format is told from the path and the file's first bytes.
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const { format, path: modelPath } = await detectModelFormat(path);
  const input = format === 'hf' ? directoryFolder(modelPath) : await fileSource(modelPath);
  const tokenizer =
    options.tokenizerPath === undefined ? undefined : await tokenizerInput(options.tokenizerPath);
  return openModelFrom(input, tokenizer === undefined ? {} : { tokenizer });
}

/**
 * A tokenizer alone: from `tokenizerPath` when given, else from the model file (a GGUF, also a
 * vocabulary-only one, or a Hugging Face folder).
 */
export async function openTokenizer(modelPath?: string, tokenizerPath?: string): Promise<Tokenizer> {
  if (tokenizerPath !== undefined) return openTokenizerFrom(await tokenizerInput(tokenizerPath));
  if (modelPath === undefined) throw new ModelFileError('no model or tokenizer path given', '');
  const { format, path } = await detectModelFormat(modelPath);
  if (format === 'llama2c') {
    throw missingTokenizerError(modelPath);
  }
  return openTokenizerFrom(format === 'hf' ? directoryFolder(path) : await fileSource(path));
}

async function tokenizerInput(path: string): Promise<ModelInput> {
  const entry = await stat(path).catch((error: unknown) => {
    throw fileSystemError(error, path);
  });
  return entry.isDirectory() ? directoryFolder(path) : fileSource(path);
}
