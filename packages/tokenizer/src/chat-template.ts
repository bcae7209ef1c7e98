/**
 * Chat templates: the Jinja text a model ships (GGUF `tokenizer.chat_template`, tokenizer_config.json,
 * `--chat-template`) rendered with @huggingface/jinja the way Hugging Face transformers renders it.
 */

import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { FALLBACK_CHAT_TEMPLATE } from './fallback-chat-template.js';
import { pythonStrftime } from './python-strftime.js';
import { ChatTemplateError } from './tokenizer-errors.js';

/** A text part of an OpenAI-style content array. */
export interface ChatTextPart {
  readonly type: 'text';
  readonly text: string;
}

/** An OpenAI-style tool call of an assistant message. */
export interface ChatToolCall {
  readonly id?: string;
  readonly type?: 'function';
  readonly function: {
    readonly name: string;
    /** JSON text as OpenAI sends it, or the parsed object. */
    readonly arguments: string | Readonly<Record<string, unknown>>;
  };
}

/** One message of an OpenAI-style conversation. */
export interface ChatMessage {
  /** `system`, `developer`, `user`, `assistant`, `tool`, or any role the template knows. */
  readonly role: string;
  readonly content?: string | null | readonly ChatTextPart[];
  readonly name?: string;
  readonly tool_calls?: readonly ChatToolCall[];
  readonly tool_call_id?: string;
}

/** The token texts a template may write (`{{ bos_token }}`, `{{ eos_token }}`). */
export interface ChatTemplateTokens {
  readonly bosToken?: string;
  readonly eosToken?: string;
}

export interface ChatTemplateOptions {
  /** Where the template came from, for error messages. Default `'model'` (`'fallback'` for `fallback`). */
  readonly name?: string;
  /** The clock of `strftime_now`. Default: the current time. */
  readonly now?: () => Date;
}

export interface ChatRenderOptions {
  /** End with the opening of an assistant turn. Default true. */
  readonly addGenerationPrompt?: boolean;
  /** OpenAI-style tool definitions, given to the template as `tools`. */
  readonly tools?: readonly unknown[];
  /** More template variables (`enable_thinking`, `documents`, ...). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

// Variables this module sets; `extra` may not replace them.
const RESERVED = new Set([
  'messages',
  'tools',
  'add_generation_prompt',
  'bos_token',
  'eos_token',
  'raise_exception',
  'strftime_now',
]);

// Thrown by the template's raise_exception so that render can tell it from the engine's own errors.
class RaisedByTemplate extends Error {}

// Text no template writes by itself: seeing it in the output means the content was rendered.
const NEEDLE = '<<llm-content-probe>>';

/** How a template wants `content`: OpenAI-style part arrays, or one string (most templates). */
type ContentForm = 'string' | 'parts';

/**
 * A compiled chat template. Messages are OpenAI-style; the template sees them as transformers'
 * `apply_chat_template` shows them, plus `bos_token`, `eos_token`, `add_generation_prompt`,
 * `tools` (when given), `raise_exception` and `strftime_now`.
 */
export class ChatTemplate {
  /** The Jinja text. */
  readonly source: string;
  /** Where the template came from, as error messages name it. */
  readonly name: string;
  private readonly template: Template;
  private readonly tokens: ChatTemplateTokens;
  private readonly now: () => Date;
  private contentForm: ContentForm | undefined;

  private constructor(
    source: string,
    template: Template,
    tokens: ChatTemplateTokens,
    name: string,
    now: () => Date,
  ) {
    this.source = source;
    this.template = template;
    this.tokens = tokens;
    this.name = name;
    this.now = now;
  }

  /** Compiles a template once; a template that does not parse throws `ChatTemplateError`. */
  static fromSource(
    source: string,
    tokens: ChatTemplateTokens,
    options: ChatTemplateOptions = {},
  ): ChatTemplate {
    const name = options.name ?? 'model';
    let template: Template;
    try {
      template = new Template(source);
    } catch (cause) {
      throw new ChatTemplateError(name, `the Jinja text does not parse: ${messageOf(cause)}`, false, {
        cause,
      });
    }
    return new ChatTemplate(source, template, tokens, name, options.now ?? (() => new Date()));
  }

  /**
   * The template for models without one: "System: ", "User: ", "Assistant: " paragraphs and an
   * "Assistant:" generation prompt (`FALLBACK_CHAT_TEMPLATE`; the README shows it).
   */
  static fallback(tokens: ChatTemplateTokens = {}, options: ChatTemplateOptions = {}): ChatTemplate {
    return ChatTemplate.fromSource(FALLBACK_CHAT_TEMPLATE, tokens, { name: 'fallback', ...options });
  }

  /** The prompt text. Errors of the template (`raise_exception`, a failed expression) throw `ChatTemplateError`. */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    const extra = options.extra ?? {};
    for (const key of Object.keys(extra)) {
      if (RESERVED.has(key)) {
        throw new ChatTemplateError(
          this.name,
          `the extra variable '${key}' is set by the renderer; pass it through its own option`,
          false,
        );
      }
    }
    const form = this.contentFormOf();
    return this.renderRaw({
      ...extra,
      messages: messages.map((m, i) => templateMessage(m, i, form, this.name)),
      ...(options.tools === undefined ? {} : { tools: options.tools }),
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  }

  private renderRaw(variables: Record<string, unknown>): string {
    // Template.render declares its own raise_exception (a plain Error, indistinguishable from the
    // engine's) and a locale-dependent strftime_now, and refuses to redeclare them: so the globals
    // are set here, the way @huggingface/jinja's setupGlobals sets them, with these two replaced.
    const env = new Environment();
    const globals: Record<string, unknown> = {
      true: true,
      false: false,
      none: null,
      True: true,
      False: false,
      None: null,
      range: pythonRange,
      raise_exception: (message: unknown) => {
        throw new RaisedByTemplate(String(message));
      },
      strftime_now: (format: unknown) => pythonStrftime(this.now(), String(format)),
      bos_token: this.tokens.bosToken ?? '',
      eos_token: this.tokens.eosToken ?? '',
      ...variables,
    };
    try {
      for (const [key, value] of Object.entries(globals)) env.set(key, value);
      const result = new Interpreter(env).run(this.template.parsed);
      return String(result.value);
    } catch (cause) {
      if (cause instanceof RaisedByTemplate) {
        throw new ChatTemplateError(this.name, cause.message, true, { cause });
      }
      throw new ChatTemplateError(this.name, `rendering failed: ${messageOf(cause)}`, false, { cause });
    }
  }

  /**
   * Most templates print `content` as a string; some (Llama 4, Gemma 3) loop over its parts. As
   * llama.cpp's minja does, a template gets parts only when it shows a string content not at all
   * and a text part's content yes.
   */
  private contentFormOf(): ContentForm {
    if (this.contentForm === undefined) {
      const shows = (content: unknown) => {
        try {
          return this.renderRaw({
            messages: [{ role: 'user', content }],
            add_generation_prompt: false,
          }).includes(NEEDLE);
        } catch {
          return false;
        }
      };
      this.contentForm = !shows(NEEDLE) && shows([{ type: 'text', text: NEEDLE }]) ? 'parts' : 'string';
    }
    return this.contentForm;
  }
}

/** Python's range(stop) / range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const out: number[] = [];
  for (let i = from; step > 0 ? i < to : i > to; i += step) out.push(i);
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A message as the template sees it: content in the template's form, tool-call arguments as objects. */
function templateMessage(
  message: ChatMessage,
  index: number,
  form: ContentForm,
  name: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) if (value !== undefined) out[key] = value;
  const content = message.content;
  if (Array.isArray(content)) {
    const parts = content as readonly ChatTextPart[];
    for (const part of parts) {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new ChatTemplateError(
          name,
          `messages[${index}].content has a part of type '${String(part.type)}'; only text parts are supported`,
          false,
        );
      }
    }
    // vLLM's joining of text parts for templates that print content as a string.
    out['content'] =
      form === 'parts'
        ? parts.map((p) => ({ type: 'text', text: p.text }))
        : parts.map((p) => p.text).join('\n');
  } else if (form === 'parts' && typeof content === 'string') {
    out['content'] = [{ type: 'text', text: content }];
  }
  if (message.tool_calls !== undefined) {
    // Templates write `arguments | tojson` (Llama 3.1, Qwen 2.5, Mistral): like vLLM and llama.cpp,
    // OpenAI's JSON text becomes the object it spells so that it is not quoted twice.
    out['tool_calls'] = message.tool_calls.map((call) => {
      const args = call.function.arguments;
      if (typeof args !== 'string') return call;
      const parsed = parseObject(args);
      return parsed === undefined ? call : { ...call, function: { ...call.function, arguments: parsed } };
    });
  }
  return out;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
