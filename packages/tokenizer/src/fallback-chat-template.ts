/**
 * The chat template for models that carry none (stories260K, base models): plain "Role: content"
 * paragraphs that any vocabulary can spell, since it writes no special-token text. BOS is not in
 * the text: `encodeChatPrompt` puts it first when the vocabulary adds BOS. The README shows this
 * text verbatim (a test keeps the two equal).
 */
export const FALLBACK_CHAT_TEMPLATE = String.raw`{#- @llm/tokenizer fallback: "Role: content" paragraphs, tools listed as JSON lines -#}
{%- macro tool_section() -%}
    {{- 'Tools:\n' -}}
    {%- for tool in tools -%}
        {{- tool | tojson + '\n' -}}
    {%- endfor -%}
    {{- 'To call a tool, write <tool_call>{"name": "NAME", "arguments": {...}}</tool_call> in your reply.\n\n' -}}
{%- endmacro -%}
{%- if tools and not (messages and messages[0]['role'] == 'system') -%}
    {{- tool_section() -}}
{%- endif -%}
{%- for message in messages -%}
    {%- set role = message['role'] -%}
    {%- if role == 'system' -%}
        {{- 'System: ' -}}
    {%- elif role == 'user' -%}
        {{- 'User: ' -}}
    {%- elif role == 'assistant' -%}
        {{- 'Assistant: ' -}}
    {%- elif role == 'tool' -%}
        {{- 'Tool: ' -}}
    {%- else -%}
        {{- role | capitalize + ': ' -}}
    {%- endif -%}
    {%- if message['content'] -%}
        {{- message['content'] -}}
    {%- endif -%}
    {%- if message['tool_calls'] -%}
        {%- for call in message['tool_calls'] -%}
            {%- if message['content'] or not loop.first -%}
                {{- '\n' -}}
            {%- endif -%}
            {%- set arguments = call['function']['arguments'] -%}
            {{- '<tool_call>{"name": ' + call['function']['name'] | tojson + ', "arguments": ' -}}
            {{- (arguments if arguments is string else arguments | tojson) + '}</tool_call>' -}}
        {%- endfor -%}
    {%- endif -%}
    {{- '\n\n' -}}
    {%- if loop.first and tools and role == 'system' -%}
        {{- tool_section() -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- 'Assistant:' -}}
{%- endif -%}
`;
