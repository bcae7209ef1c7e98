import {
  chatTemplateOf,
  detectFileFormat,
  ggufWeightSource,
  HF_TOKENIZER_CONFIG_FILE,
  HF_TOKENIZER_JSON_FILE,
  ModelFileError,
  openGgufSource,
  openHfFolderSource,
  openLlama2cCheckpointSource,
  optionalJson,
  readHfSentencePieceTokenizer,
  readLlama2cTokenizerSource,
  readText,
  sentencePieceTokenizerMetadata,
  startsWithGgufMagic,
  type ByteSource,
  type ModelChatTemplate,
  type ModelFolder,
  type ModelFormat,
  type WeightSource,
} from '@llm/formats';
import {
  checkTokenizerFitsModel,
  tokenizerFromGguf,
  tokenizerFromJson,
  tokenizerFromLlama2c,
  type Tokenizer,
} from '@llm/tokenizer';

export interface OpenedModel {
  readonly format: ModelFormat;
  readonly source: WeightSource;
  readonly tokenizer: Tokenizer;
  /** The chat template the model's files hold (GGUF metadata, a folder's template files), if any. */
  readonly chatTemplate?: ModelChatTemplate;
}

/** A single-file model (GGUF, llama2.c checkpoint) or the files of a Hugging Face folder. */
export type ModelInput = ByteSource | ModelFolder;

export interface OpenModelFromOptions {
  /**
   * A tokenizer to use instead of the model's own: a llama2.c tokenizer.bin, a tokenizer.json
   * (told by its name), a GGUF, or a Hugging Face folder.
   */
  readonly tokenizer?: ModelInput;
}

function isFolder(input: ModelInput): input is ModelFolder {
  return !('read' in input);
}

/** What opening a llama2.c checkpoint without a separate tokenizer raises. */
export function missingTokenizerError(name: string): ModelFileError {
  return new ModelFileError(
    'a llama2.c checkpoint carries no tokenizer; give its tokenizer.bin as the tokenizer',
    name,
  );
}

/**
 * Opens a model and its tokenizer from sources, in Node or a browser. The tokenizer comes from
 * `options.tokenizer` when given, else from the model (GGUF metadata, a Hugging Face folder's
 * tokenizer.json or tokenizer.model); a llama2.c checkpoint carries none. A tokenizer whose ids do
 * not fit the model's vocabulary is refused. Closing `source` closes the model's files; a
 * separate tokenizer source is closed once read.
 */
export async function openModelFrom(
  input: ModelInput,
  options: OpenModelFromOptions = {},
): Promise<OpenedModel> {
  let format: ModelFormat;
  let source: WeightSource;
  let ownTokenizer: (() => Promise<Tokenizer>) | undefined;
  let chatTemplate: () => Promise<ModelChatTemplate | undefined> = async () => undefined;
  if (isFolder(input)) {
    format = 'hf';
    source = await openHfFolderSource(input);
    ownTokenizer = () => tokenizerFromFolder(input);
    chatTemplate = () => chatTemplateOf(input);
  } else {
    const detected = await detectFileFormat(input).catch(async (error: unknown) => {
      await input.close();
      throw error;
    });
    if (detected === 'gguf') {
      format = 'gguf';
      const file = await openGgufSource(input);
      try {
        source = ggufWeightSource(file);
      } catch (error) {
        await file.close();
        throw error;
      }
      ownTokenizer = async () => tokenizerFromGguf(file.metadata);
      chatTemplate = () => chatTemplateOf(file);
    } else {
      // Anything else gets the llama2.c reader's precise complaint.
      format = 'llama2c';
      source = await openLlama2cCheckpointSource(input);
    }
  }
  try {
    let tokenizer: Tokenizer;
    if (options.tokenizer !== undefined) tokenizer = await openTokenizerFrom(options.tokenizer);
    else if (ownTokenizer) tokenizer = await ownTokenizer();
    else throw missingTokenizerError(input.name);
    checkTokenizerFitsModel(tokenizer, source.config.vocabSize);
    const template = await chatTemplate();
    return { format, source, tokenizer, ...(template === undefined ? {} : { chatTemplate: template }) };
  } catch (error) {
    await source.close();
    throw error;
  }
}

/**
 * A tokenizer alone, from a GGUF (also a vocabulary-only one), a tokenizer.json, a llama2.c
 * tokenizer.bin or a Hugging Face folder. A file source is closed once read.
 */
export async function openTokenizerFrom(input: ModelInput): Promise<Tokenizer> {
  if (isFolder(input)) return tokenizerFromFolder(input);
  const head = await input.read(0, 4).catch(async (error: unknown) => {
    await input.close();
    throw error;
  });
  if (startsWithGgufMagic(head)) {
    const file = await openGgufSource(input);
    try {
      return tokenizerFromGguf(file.metadata);
    } finally {
      await file.close();
    }
  }
  if (input.name.endsWith('.json')) {
    try {
      return tokenizerFromJson(parseJson(await readText(input), input.name));
    } finally {
      await input.close();
    }
  }
  return tokenizerFromLlama2c(await readLlama2cTokenizerSource(input));
}

async function tokenizerFromFolder(folder: ModelFolder): Promise<Tokenizer> {
  const json = await optionalJson(folder, HF_TOKENIZER_JSON_FILE);
  if (json !== undefined) {
    const config = await optionalJson(folder, HF_TOKENIZER_CONFIG_FILE).catch(() => undefined);
    return tokenizerFromJson(json, config);
  }
  // A folder with only tokenizer.model reads as llama.cpp's conversion of it would.
  const spm = await readHfSentencePieceTokenizer(folder);
  if (spm !== undefined)
    return tokenizerFromGguf(sentencePieceTokenizerMetadata(spm, spm.model.pieces.length));
  throw new ModelFileError(
    `${folder.name} has neither tokenizer.json nor tokenizer.model; give a tokenizer`,
    folder.name,
  );
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(`${name} is not valid JSON (${(error as Error).message})`, name);
  }
}
