/**
 * Where a model keeps its chat template (the Jinja text that turns messages into a prompt) and the
 * BOS/EOS texts the template writes: GGUF metadata, or a Hugging Face folder's
 * tokenizer_config.json, chat_template.jinja and chat_template.json.
 */

import { GgufFormatError, ModelFileError } from './errors.js';
import { GgufFile } from './gguf/gguf-file.js';
import { HfFormatError } from './hf/hf-format-error.js';
import { HF_TOKENIZER_CONFIG_FILE, optionalJson, readOptional } from './hf/hf-tokenizer-files.js';
import type { ModelFolder } from './io/model-folder.js';

/** The Jinja file of transformers' newer layout; it wins over tokenizer_config.json's `chat_template`. */
export const HF_CHAT_TEMPLATE_JINJA_FILE = 'chat_template.jinja';
/** `{"chat_template": ...}`: where processors (multimodal models) keep theirs. */
export const HF_CHAT_TEMPLATE_JSON_FILE = 'chat_template.json';
/** Named templates of the newer layout: `additional_chat_templates/NAME.jinja`. */
export const HF_ADDITIONAL_CHAT_TEMPLATES_DIR = 'additional_chat_templates';

const GGUF_TEMPLATE_KEY = 'tokenizer.chat_template';
/** The name of the template used when none is asked for (transformers' and llama.cpp's). */
const DEFAULT_NAME = 'default';

/** A model's chat template as found in its files. */
export interface ModelChatTemplate {
  /** The Jinja text. */
  readonly source: string;
  /** Where it was found, for messages: `model.gguf: tokenizer.chat_template`, `folder/chat_template.jinja`. */
  readonly origin: string;
  /** The name of the template chosen: `default` for the unnamed one. */
  readonly name: string;
  /** Every template the model holds, by name (`default`, `tool_use`, `rag`, ...). */
  readonly names: readonly string[];
  /** The text of the BOS token, when the files say (GGUF: the token at bos_token_id). */
  readonly bosToken?: string;
  readonly eosToken?: string;
}

export interface ChatTemplateQuery {
  /** A named template (`tool_use`, `rag`); default: the model's default one. */
  readonly name?: string;
}

/** A metadata value: a GGUF reader's tagged `{type, value}` or the bare value. */
function unwrap(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'type' in value && 'value' in value) {
    return (value as { value: unknown }).value;
  }
  return value;
}

function pick(
  templates: ReadonlyMap<string, { source: string; origin: string }>,
  query: ChatTemplateQuery,
  where: string,
): { name: string; source: string; origin: string } | undefined {
  if (templates.size === 0) return undefined;
  const name = query.name ?? DEFAULT_NAME;
  const found = templates.get(name);
  if (found !== undefined) return { name, ...found };
  const names = [...templates.keys()].join(', ');
  throw new ModelFileError(
    query.name === undefined
      ? `${where} has chat templates named ${names} but no default one; choose one by name`
      : `${where} has no chat template named '${name}'; it has ${names}`,
    where,
    'not_found',
  );
}

function withTokens(
  picked: { name: string; source: string; origin: string },
  names: readonly string[],
  bosToken: string | undefined,
  eosToken: string | undefined,
): ModelChatTemplate {
  return {
    source: picked.source,
    origin: picked.origin,
    name: picked.name,
    names,
    ...(bosToken === undefined ? {} : { bosToken }),
    ...(eosToken === undefined ? {} : { eosToken }),
  };
}

/**
 * The chat template of GGUF metadata (a `GgufFile`'s `metadata`, tagged or bare values):
 * `tokenizer.chat_template`, or `tokenizer.chat_template.NAME` for a named one, with the texts of the
 * tokens at `tokenizer.ggml.bos_token_id` / `eos_token_id`. Undefined when the file has no template.
 */
export function chatTemplateOfGguf(
  metadata: ReadonlyMap<string, unknown>,
  options: ChatTemplateQuery & { readonly path?: string } = {},
): ModelChatTemplate | undefined {
  const path = options.path ?? 'GGUF metadata';
  const templates = new Map<string, { source: string; origin: string }>();
  for (const [key, tagged] of metadata) {
    let name: string;
    if (key === GGUF_TEMPLATE_KEY) name = DEFAULT_NAME;
    else if (key.startsWith(`${GGUF_TEMPLATE_KEY}.`)) name = key.slice(GGUF_TEMPLATE_KEY.length + 1);
    else continue;
    const value = unwrap(tagged);
    if (typeof value !== 'string') throw new GgufFormatError(`metadata ${key} is not a string`, path);
    templates.set(name, { source: value, origin: `${path}: ${key}` });
  }
  const picked = pick(templates, options, path);
  if (picked === undefined) return undefined;
  const tokens = unwrap(metadata.get('tokenizer.ggml.tokens'));
  const tokenAt = (key: string): string | undefined => {
    let id = unwrap(metadata.get(key));
    if (typeof id === 'bigint') id = Number(id);
    if (!Array.isArray(tokens) || typeof id !== 'number') return undefined;
    const text: unknown = tokens[id];
    return typeof text === 'string' ? text : undefined;
  };
  return withTokens(
    picked,
    [...templates.keys()],
    tokenAt('tokenizer.ggml.bos_token_id'),
    tokenAt('tokenizer.ggml.eos_token_id'),
  );
}

/** The files of a Hugging Face folder that may hold chat templates, already read. */
export interface HfChatTemplateFiles {
  /** tokenizer_config.json (parsed). */
  readonly tokenizerConfig?: unknown;
  /** chat_template.jinja. */
  readonly chatTemplateJinja?: string;
  /** chat_template.json (parsed). */
  readonly chatTemplateJson?: unknown;
  /** additional_chat_templates/NAME.jinja, by NAME. */
  readonly additional?: ReadonlyMap<string, string>;
}

function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'content' in value) {
    const content = (value as { content: unknown }).content;
    if (typeof content === 'string') return content;
  }
  return undefined;
}

/** `chat_template` as transformers stores it: a string, or a list of `{name, template}`. */
function addTemplates(
  templates: Map<string, { source: string; origin: string }>,
  value: unknown,
  origin: string,
): void {
  if (value === undefined || value === null) return;
  if (typeof value === 'string') {
    if (!templates.has(DEFAULT_NAME)) templates.set(DEFAULT_NAME, { source: value, origin });
    return;
  }
  if (!Array.isArray(value)) {
    throw new HfFormatError(
      origin,
      'tokenizer-invalid',
      'chat_template is neither a string nor a list of templates',
    );
  }
  (value as unknown[]).forEach((entry, i) => {
    const { name, template } = (typeof entry === 'object' && entry !== null ? entry : {}) as {
      name?: unknown;
      template?: unknown;
    };
    if (typeof name !== 'string' || typeof template !== 'string') {
      throw new HfFormatError(
        origin,
        'tokenizer-invalid',
        `chat_template[${i}] is not a {"name": string, "template": string} entry`,
      );
    }
    if (!templates.has(name)) templates.set(name, { source: template, origin: `${origin} (${name})` });
  });
}

/**
 * The chat template of a Hugging Face folder's files. As transformers reads them:
 * chat_template.jinja first, then tokenizer_config.json's `chat_template` (a string, or a list of
 * `{name, template}` whose `default` is used unless a name is asked for), then chat_template.json;
 * named ones also from additional_chat_templates/. BOS/EOS texts from tokenizer_config.json's
 * `bos_token` / `eos_token` (strings or `{content}`). Undefined when there is no template.
 */
export function chatTemplateOfHfFiles(
  files: HfChatTemplateFiles,
  options: ChatTemplateQuery & { readonly folder?: string } = {},
): ModelChatTemplate | undefined {
  const folder = options.folder ?? '.';
  const templates = new Map<string, { source: string; origin: string }>();
  if (files.chatTemplateJinja !== undefined) {
    templates.set(DEFAULT_NAME, {
      source: files.chatTemplateJinja,
      origin: `${folder}/${HF_CHAT_TEMPLATE_JINJA_FILE}`,
    });
  }
  const config = asObject(files.tokenizerConfig, `${folder}/${HF_TOKENIZER_CONFIG_FILE}`);
  addTemplates(templates, config?.['chat_template'], `${folder}/${HF_TOKENIZER_CONFIG_FILE}`);
  const json = asObject(files.chatTemplateJson, `${folder}/${HF_CHAT_TEMPLATE_JSON_FILE}`);
  addTemplates(templates, json?.['chat_template'], `${folder}/${HF_CHAT_TEMPLATE_JSON_FILE}`);
  for (const [name, source] of files.additional ?? []) {
    if (!templates.has(name)) {
      templates.set(name, { source, origin: `${folder}/${HF_ADDITIONAL_CHAT_TEMPLATES_DIR}/${name}.jinja` });
    }
  }
  const picked = pick(templates, options, folder);
  if (picked === undefined) return undefined;
  return withTokens(
    picked,
    [...templates.keys()],
    tokenText(config?.['bos_token']),
    tokenText(config?.['eos_token']),
  );
}

function asObject(value: unknown, path: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HfFormatError(path, 'tokenizer-invalid', 'is not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * The chat template of an open GGUF file or of a Hugging Face folder (`chatTemplateOfGguf`,
 * `chatTemplateOfHfFiles`), or undefined when the model has none. A folder's files are read here;
 * a named template of the newer layout is looked up in additional_chat_templates/ only when asked
 * for, since a folder cannot be listed.
 */
export async function chatTemplateOf(
  model: GgufFile | ModelFolder,
  options: ChatTemplateQuery = {},
): Promise<ModelChatTemplate | undefined> {
  if (model instanceof GgufFile) return chatTemplateOfGguf(model.metadata, { ...options, path: model.path });
  const text = async (fileName: string) => {
    const bytes = await readOptional(model, fileName);
    return bytes === undefined ? undefined : new TextDecoder('utf-8').decode(bytes);
  };
  const jinja = await text(HF_CHAT_TEMPLATE_JINJA_FILE);
  const tokenizerConfig = await optionalJson(model, HF_TOKENIZER_CONFIG_FILE);
  const chatTemplateJson = await optionalJson(model, HF_CHAT_TEMPLATE_JSON_FILE);
  const additional = new Map<string, string>();
  if (options.name !== undefined && options.name !== DEFAULT_NAME && /^[\w.-]+$/.test(options.name)) {
    const named = await text(`${HF_ADDITIONAL_CHAT_TEMPLATES_DIR}/${options.name}.jinja`);
    if (named !== undefined) additional.set(options.name, named);
  }
  return chatTemplateOfHfFiles(
    {
      ...(jinja === undefined ? {} : { chatTemplateJinja: jinja }),
      ...(tokenizerConfig === undefined ? {} : { tokenizerConfig }),
      ...(chatTemplateJson === undefined ? {} : { chatTemplateJson }),
      additional,
    },
    { ...options, folder: model.name },
  );
}
