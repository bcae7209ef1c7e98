import type { ChatMessage, ChatRenderOptions, ChatTemplate, ChatTemplateTokens } from './chat-template.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * The ids of a rendered chat prompt. Special-token text the template wrote (`<|eot_id|>`,
 * `<|im_start|>`, `<s>`) becomes those tokens; BOS goes first when the vocabulary adds BOS and the
 * text did not already start with it, so a template that writes `{{ bos_token }}` gets one BOS, not
 * two (llama.cpp strips the template's BOS and lets the tokenizer add it: the same ids). Text inside
 * messages is parsed for special tokens too, as in llama.cpp and transformers.
 */
export function encodeChatPrompt(tokenizer: Tokenizer, text: string): number[] {
  const ids = tokenizer.encode(text, { parseSpecial: true, addSpecial: false });
  const bos = tokenizer.bosId;
  if (tokenizer.addBos && bos !== undefined && ids[0] !== bos) ids.unshift(bos);
  return ids;
}

/** The BOS and EOS texts of a tokenizer, for the `{{ bos_token }}` and `{{ eos_token }}` of a template. */
export function chatTemplateTokens(tokenizer: Tokenizer): ChatTemplateTokens {
  const bosToken = tokenizer.bosId === undefined ? undefined : tokenizer.tokenText(tokenizer.bosId);
  const eosToken = tokenizer.eosId === undefined ? undefined : tokenizer.tokenText(tokenizer.eosId);
  return {
    ...(bosToken === undefined ? {} : { bosToken }),
    ...(eosToken === undefined ? {} : { eosToken }),
  };
}

/** A chat template bound to the tokenizer of its model: messages in, prompt ids out. */
export class ChatPrompter {
  constructor(
    readonly tokenizer: Tokenizer,
    readonly template: ChatTemplate,
  ) {}

  /** The prompt text (`ChatTemplate.render`). */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    return this.template.render(messages, options);
  }

  /** The prompt ids: `render`, then `encodeChatPrompt`. */
  renderToIds(
    messages: readonly ChatMessage[],
    options: ChatRenderOptions & { readonly addGenerationPrompt: boolean },
  ): number[] {
    return encodeChatPrompt(this.tokenizer, this.template.render(messages, options));
  }
}
