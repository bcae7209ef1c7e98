import * as z from 'zod/mini';
import type { ModelFolder } from '../io/model-folder.js';
import { HfFormatError } from './hf-format-error.js';
import { parseSentencePieceModel, type SentencePieceModel } from './sentencepiece-model.js';

export const HF_SENTENCEPIECE_FILE = 'tokenizer.model';
export const HF_TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const HF_TOKENIZER_JSON_FILE = 'tokenizer.json';

/** A Hugging Face folder's SentencePiece vocabulary with the settings transformers keeps beside it. */
export interface HfSentencePieceTokenizer {
  readonly model: SentencePieceModel;
  /** config.json's bos_token_id / eos_token_id when they are single ids. */
  readonly bosId?: number;
  readonly eosId?: number;
  readonly addBosToken?: boolean;
  readonly addEosToken?: boolean;
  readonly chatTemplate?: string;
}

const tokenizerConfigSchema = z.looseObject({
  add_bos_token: z.nullish(z.boolean()),
  add_eos_token: z.nullish(z.boolean()),
  chat_template: z.unknown(),
});
const specialIdsSchema = z.looseObject({
  bos_token_id: z.unknown(),
  eos_token_id: z.unknown(),
});

/**
 * Reads tokenizer.model and the special-token settings of tokenizer_config.json and config.json,
 * or returns undefined when the folder has no tokenizer.model.
 */
export async function readHfSentencePieceTokenizer(
  folder: ModelFolder,
): Promise<HfSentencePieceTokenizer | undefined> {
  const bytes = await readOptional(folder, HF_SENTENCEPIECE_FILE);
  if (bytes === undefined) return undefined;
  const model = parseSentencePieceModel(bytes, `${folder.name}/${HF_SENTENCEPIECE_FILE}`);
  const settings = tokenizerConfigSchema.safeParse(await optionalJson(folder, HF_TOKENIZER_CONFIG_FILE));
  const ids = specialIdsSchema.safeParse(await optionalJson(folder, 'config.json'));
  const id = (value: unknown): number | undefined =>
    Number.isInteger(value) && (value as number) >= 0 && (value as number) < model.pieces.length
      ? (value as number)
      : undefined;
  const bosId = ids.success ? id(ids.data.bos_token_id) : undefined;
  const eosId = ids.success ? id(ids.data.eos_token_id) : undefined;
  const config = settings.success ? settings.data : undefined;
  return {
    model,
    ...(bosId === undefined ? {} : { bosId }),
    ...(eosId === undefined ? {} : { eosId }),
    ...(config?.add_bos_token == null ? {} : { addBosToken: config.add_bos_token }),
    ...(config?.add_eos_token == null ? {} : { addEosToken: config.add_eos_token }),
    // A list of named templates is left out: GGUF's tokenizer.chat_template holds one string.
    ...(typeof config?.chat_template === 'string' ? { chatTemplate: config.chat_template } : {}),
  };
}

/** A file of the folder read whole, or undefined when it is absent. */
export async function readOptional(folder: ModelFolder, fileName: string): Promise<Uint8Array | undefined> {
  const source = await folder.open(fileName);
  if (source === undefined) return undefined;
  try {
    return await source.read(0, source.size);
  } finally {
    await source.close();
  }
}

/** A JSON file of the folder, or undefined when it is absent. */
export async function optionalJson(folder: ModelFolder, fileName: string): Promise<unknown> {
  const bytes = await readOptional(folder, fileName);
  if (bytes === undefined) return undefined;
  const path = `${folder.name}/${fileName}`;
  try {
    return JSON.parse(new TextDecoder('utf-8').decode(bytes));
  } catch (cause) {
    throw new HfFormatError(path, 'tokenizer-invalid', `${path} is not valid JSON`, { cause });
  }
}
