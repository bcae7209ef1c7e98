import { openGgufSource, type GgufFile } from '../gguf/gguf-file.js';
import { openGgufWeightSourceFrom } from '../gguf/gguf-weight-source.js';
import { writeGgufTo, type WriteGgufOptions } from '../gguf/gguf-writer.js';
import { writeHfFolderTo, type HfFolderContents } from '../hf/hf-folder-writer.js';
import { HfFormatError } from '../hf/hf-format-error.js';
import { openHfFolderSource } from '../hf/hf-weight-source.js';
import { parseSentencePieceModel, type SentencePieceModel } from '../hf/sentencepiece-model.js';
import { openLlama2cCheckpointSource, type Llama2cCheckpoint } from '../llama2c/llama2c-checkpoint.js';
import { readLlama2cTokenizerSource, type Llama2cTokenizer } from '../llama2c/llama2c-tokenizer.js';
import { SafetensorsFormatError } from '../safetensors/safetensors-format-error.js';
import { openSafetensorsSource, type SafetensorsFile } from '../safetensors/safetensors-reader.js';
import { writeSafetensorsTo, type SafetensorsTensorSource } from '../safetensors/safetensors-writer.js';
import {
  writeSyntheticLlamaGgufTo,
  type SyntheticLlamaOptions,
  type SyntheticLlamaResult,
} from '../synthetic/synthetic-llama.js';
import type { WeightSource } from '../weight-source.js';
import { directoryFolder } from './directory-folder.js';
import { directorySink, fileSink } from './file-sink.js';
import { fileSource } from './file-source.js';

/** Opens a GGUF file and checks its header, metadata and tensor directory. */
export async function openGguf(path: string): Promise<GgufFile> {
  return openGgufSource(await fileSource(path));
}

/** Opens a GGUF file as a WeightSource. */
export async function openGgufWeightSource(path: string): Promise<WeightSource> {
  return openGgufWeightSourceFrom(await fileSource(path));
}

/** Opens a .safetensors file; tensor data is read only on demand. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let source;
  try {
    source = await fileSource(path);
  } catch (cause) {
    throw new SafetensorsFormatError(path, 'open', `cannot open file (${(cause as Error).message})`, {
      cause,
    });
  }
  return openSafetensorsSource(source);
}

/** Opens a llama2.c checkpoint file as a WeightSource. */
export async function openLlama2cCheckpoint(path: string): Promise<Llama2cCheckpoint> {
  return openLlama2cCheckpointSource(await fileSource(path));
}

/** Reads a llama2.c tokenizer.bin file. */
export async function readLlama2cTokenizer(
  path: string,
  options: { vocabSize?: number } = {},
): Promise<Llama2cTokenizer> {
  return readLlama2cTokenizerSource(await fileSource(path), options);
}

/** Reads a SentencePiece tokenizer.model file. */
export async function readSentencePieceModel(path: string): Promise<SentencePieceModel> {
  let source;
  try {
    source = await fileSource(path);
  } catch (cause) {
    throw new HfFormatError(path, 'tokenizer-invalid', `cannot read ${path} (${(cause as Error).message})`, {
      cause,
    });
  }
  try {
    return parseSentencePieceModel(await source.read(0, source.size), path);
  } finally {
    await source.close();
  }
}

/** Opens a Hugging Face model folder on disk as a WeightSource. */
export async function openHfFolder(dir: string): Promise<WeightSource> {
  return openHfFolderSource(directoryFolder(dir));
}

/** Writes a GGUF to `path` via a temporary file renamed on success. */
export async function writeGguf(path: string, options: WriteGgufOptions): Promise<{ bytes: number }> {
  return writeGgufTo(await fileSink(path), options);
}

/** Writes a safetensors file to `path`; it appears there only once complete. */
export async function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsTensorSource[],
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  return writeSafetensorsTo(await fileSink(path), tensors, metadata);
}

/** Writes a Hugging Face folder on disk, creating it if needed. */
export async function writeHfFolder(dir: string, contents: HfFolderContents): Promise<void> {
  return writeHfFolderTo(await directorySink(dir), contents);
}

/** Writes a deterministic random-weight Llama GGUF to `path`. */
export async function writeSyntheticLlamaGguf(
  path: string,
  options: SyntheticLlamaOptions = {},
): Promise<SyntheticLlamaResult> {
  return writeSyntheticLlamaGgufTo(await fileSink(path), options);
}
