import type { ChatRequest, ChatTool, GenerationFields } from './request-schemas.js';
import { ServerError } from './server-error.js';
import type { ServingEngine, ServingGrammar } from './serving-engine.js';
import { toolCallBegin, TOOL_CALL_END, TOOL_CALL_OPEN, TOOL_CALL_SEPARATOR } from './tool-calls.js';

/** The grammar of `response_format`, or undefined for plain text. */
export function responseFormatGrammar(format: GenerationFields['response_format']): ServingGrammar | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  // OpenAI requires a schema; without one any JSON object will do.
  const schema = format.json_schema.schema;
  return schema ? { type: 'json_schema', schema } : { type: 'json_object' };
}

/** How a chat request uses its tools. */
export interface ToolUse {
  /** Tool definitions for the chat template's `tools`; undefined when the request has none. */
  readonly tools: readonly ChatTool[] | undefined;
  /** Parse `<tool_call>` blocks of the reply into `tool_calls` (not with tool_choice `none`). */
  readonly parse: boolean;
  /** The grammar the reply follows: the tool calls for `required` or a named function, any text with calls in `auto`. */
  readonly grammar: ServingGrammar | undefined;
}

/**
 * The tool calls a request allows, as a grammar: each tool's call is the template's fixed text
 * around the arguments, which follow the tool's parameters schema. `required` and a named
 * function allow nothing but calls (at least one); `auto` allows any text and, once
 * `<tool_call>` is written, only a whole call; `parallel_tool_calls: false` stops after one.
 */
export function toolUse(body: ChatRequest): ToolUse {
  const tools = body.tools && body.tools.length > 0 ? body.tools : undefined;
  const choice = body.tool_choice ?? (tools ? 'auto' : 'none');
  if (!tools) {
    if (choice !== 'none') {
      throw new ServerError('invalid_argument', `tool_choice ${JSON.stringify(choice)} needs tools`, { param: 'tool_choice' });
    }
    return { tools: undefined, parse: false, grammar: undefined };
  }
  const names = new Set<string>();
  for (const [i, tool] of tools.entries()) {
    if (names.has(tool.function.name)) {
      throw new ServerError('invalid_argument', `two tools are named '${tool.function.name}'`, { param: `tools[${i}].function.name` });
    }
    names.add(tool.function.name);
  }
  if (choice === 'none') return { tools, parse: false, grammar: undefined };
  const stopAfterFirst = body.parallel_tool_calls === false;
  let allowed = tools;
  if (typeof choice === 'object') {
    allowed = tools.filter((t) => t.function.name === choice.function.name);
    if (allowed.length === 0) {
      throw new ServerError('invalid_argument', `tool_choice names '${choice.function.name}', which is not among the tools`, {
        param: 'tool_choice',
      });
    }
  }
  const tags = allowed.map((tool) => ({
    type: 'tag',
    begin: toolCallBegin(tool.function.name),
    content: { type: 'json_schema', json_schema: tool.function.parameters ?? { type: 'object', properties: {} } },
    end: TOOL_CALL_END,
  }));
  const format =
    choice === 'auto'
      ? { type: 'triggered_tags', triggers: [TOOL_CALL_OPEN], tags, at_least_one: false, stop_after_first: stopAfterFirst }
      : { type: 'tags_with_separator', tags, separator: TOOL_CALL_SEPARATOR, at_least_one: true, stop_after_first: stopAfterFirst };
  return { tools, parse: true, grammar: { type: 'structural_tag', format } };
}

/**
 * Compiles a request's grammar before it runs, so that a bad schema is a 400 naming the field at
 * fault rather than a failed stream. Each tool's parameters are compiled alone first (cached by
 * the engine) so that the error names the tool.
 */
export async function prepareGrammar(
  engine: ServingEngine,
  grammar: ServingGrammar,
  param: string,
  tools: readonly ChatTool[] = [],
): Promise<void> {
  if (!engine.prepareGrammar) {
    throw new ServerError('unsupported', 'this engine does not support constrained decoding', { param });
  }
  const prepare = async (g: ServingGrammar, where: string) => {
    try {
      await engine.prepareGrammar!(g);
    } catch (error) {
      const e = ServerError.from(error);
      if (e.code === 'internal' || e.code === 'unavailable') throw e;
      throw new ServerError('invalid_argument', `Invalid '${where}': ${e.message}`, { param: where, apiCode: 'invalid_value', cause: error });
    }
  };
  for (const [i, tool] of tools.entries()) {
    if (tool.function.parameters) await prepare({ type: 'json_schema', schema: tool.function.parameters }, `tools[${i}].function.parameters`);
  }
  await prepare(grammar, param);
}
