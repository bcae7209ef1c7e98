/**
 * How a tool call is written in a reply: the syntax of @llm/tokenizer's fallback chat template,
 * which Hermes- and Qwen-style templates share: `<tool_call>{"name": "NAME", "arguments": {...}}</tool_call>`,
 * calls separated by a newline.
 */
export const TOOL_CALL_OPEN = '<tool_call>';
export const TOOL_CALL_END = '}</tool_call>';
export const TOOL_CALL_SEPARATOR = '\n';

/** The fixed text of a call to `name` up to its arguments. */
export function toolCallBegin(name: string): string {
  return `${TOOL_CALL_OPEN}{"name": ${JSON.stringify(name)}, "arguments": `;
}

// A call's head as a model may write it (the grammar writes toolCallBegin exactly).
const HEAD = /^<tool_call>\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*(?=\S)/;
// Longer than any call head: text that still has not formed one is not a call.
const MAX_HEAD_CHARS = 256;

/** An OpenAI streaming tool-call delta: the first of a call carries id, type and name. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ParsedPiece {
  /** Text outside tool calls. */
  content: string;
  toolCalls: ToolCallDelta[];
}

/**
 * Splits a reply, as it streams, into content and tool calls. Arguments are passed through as
 * the model wrote them, so the streamed fragments join to exactly the arguments of the whole
 * reply. Text that may still turn out to open or close a call is held until it is known.
 */
export class ToolCallParser {
  readonly calls: ToolCall[] = [];
  private buffer = '';
  private state: 'text' | 'head' | 'arguments' = 'text';

  constructor(private readonly newId: () => string) {}

  push(text: string): ParsedPiece {
    this.buffer += text;
    const out: ParsedPiece = { content: '', toolCalls: [] };
    for (;;) {
      if (this.state === 'text') {
        const at = this.buffer.indexOf(TOOL_CALL_OPEN);
        if (at < 0) {
          const keep = heldPrefix(this.buffer, TOOL_CALL_OPEN);
          out.content += this.buffer.slice(0, this.buffer.length - keep);
          this.buffer = this.buffer.slice(this.buffer.length - keep);
          return out;
        }
        out.content += this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at);
        this.state = 'head';
      } else if (this.state === 'head') {
        const m = HEAD.exec(this.buffer);
        if (!m) {
          if (this.buffer.length <= MAX_HEAD_CHARS) return out;
          // Not a call after all: the text is content.
          out.content += TOOL_CALL_OPEN;
          this.buffer = this.buffer.slice(TOOL_CALL_OPEN.length);
          this.state = 'text';
          continue;
        }
        const name = JSON.parse(`"${m[1]!}"`) as string;
        const call: ToolCall = { id: this.newId(), type: 'function', function: { name, arguments: '' } };
        this.calls.push(call);
        out.toolCalls.push({ index: this.calls.length - 1, id: call.id, type: 'function', function: { name, arguments: '' } });
        this.buffer = this.buffer.slice(m[0].length);
        this.state = 'arguments';
      } else {
        const end = this.buffer.indexOf(TOOL_CALL_END);
        const upTo = end >= 0 ? end : this.buffer.length - heldPrefix(this.buffer, TOOL_CALL_END);
        this.appendArguments(out, this.buffer.slice(0, upTo));
        if (end < 0) {
          this.buffer = this.buffer.slice(upTo);
          return out;
        }
        this.buffer = this.buffer.slice(end + TOOL_CALL_END.length);
        this.state = 'text';
      }
    }
  }

  /** The end of the reply: held text is released (a call cut short keeps its partial arguments). */
  finish(): ParsedPiece {
    const out: ParsedPiece = { content: '', toolCalls: [] };
    if (this.state === 'arguments') this.appendArguments(out, this.buffer);
    else out.content += this.buffer;
    this.buffer = '';
    this.state = 'text';
    return out;
  }

  private appendArguments(out: ParsedPiece, text: string): void {
    if (text === '') return;
    const index = this.calls.length - 1;
    this.calls[index]!.function.arguments += text;
    out.toolCalls.push({ index, function: { arguments: text } });
  }
}

/** Length of the longest end of `text` that is a proper start of `marker`. */
function heldPrefix(text: string, marker: string): number {
  for (let n = Math.min(text.length, marker.length - 1); n > 0; n--) {
    if (marker.startsWith(text.slice(text.length - n))) return n;
  }
  return 0;
}
