import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFileError } from './errors.js';
import { openGgufSource } from './gguf/gguf-file.js';
import { ggufValue, type GgufValue } from './gguf/gguf-value.js';
import { writeGgufTo } from './gguf/gguf-writer.js';
import { HfFormatError } from './hf/hf-format-error.js';
import { blobSource } from './io/blob-source.js';
import { MemorySink } from './io/byte-sink.js';
import { blobFolder } from './io/model-folder.js';
import { chatTemplateOf, chatTemplateOfGguf, chatTemplateOfHfFiles } from './model-chat-template.js';
import { directoryFolder } from './node/directory-folder.js';
import { openGguf } from './node/open-files.js';
import { modelFile } from './testing/models-dir.js';

const CHATML = `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}`;
const TOOL_USE = `{{ bos_token }}{% for tool in tools %}{{ tool | tojson }}{% endfor %}`;

/** A vocabulary-only GGUF written to memory with the writer of this package, opened again. */
async function ggufWith(metadata: Record<string, GgufValue>) {
  const sink = new MemorySink('chat.gguf');
  await writeGgufTo(sink, {
    metadata: {
      'general.architecture': ggufValue.string('llama'),
      'tokenizer.ggml.model': ggufValue.string('gpt2'),
      'tokenizer.ggml.tokens': ggufValue.stringArray(['<|endoftext|>', '<|im_start|>', '<|im_end|>', 'a']),
      'tokenizer.ggml.bos_token_id': ggufValue.u32(0),
      'tokenizer.ggml.eos_token_id': ggufValue.u32(2),
      ...metadata,
    },
    tensors: [],
  });
  return openGgufSource(blobSource(new Blob([sink.bytes!]), 'chat.gguf'));
}

const json = (value: unknown) => new Blob([JSON.stringify(value)]);

describe('chat templates of GGUF files', () => {
  it('finds tokenizer.chat_template with the texts of the BOS and EOS tokens', async () => {
    const file = await ggufWith({ 'tokenizer.chat_template': ggufValue.string(CHATML) });
    expect(await chatTemplateOf(file)).toEqual({
      source: CHATML,
      origin: 'chat.gguf: tokenizer.chat_template',
      name: 'default',
      names: ['default'],
      bosToken: '<|endoftext|>',
      eosToken: '<|im_end|>',
    });
    await file.close();
  });

  it('finds named templates (tokenizer.chat_template.NAME) and names the ones there are', async () => {
    const file = await ggufWith({
      'tokenizer.chat_template': ggufValue.string(CHATML),
      'tokenizer.chat_template.tool_use': ggufValue.string(TOOL_USE),
    });
    const toolUse = chatTemplateOfGguf(file.metadata, { name: 'tool_use', path: file.path });
    expect(toolUse?.source).toBe(TOOL_USE);
    expect(toolUse?.origin).toBe('chat.gguf: tokenizer.chat_template.tool_use');
    expect(toolUse?.names).toEqual(['default', 'tool_use']);
    expect(() => chatTemplateOfGguf(file.metadata, { name: 'rag', path: file.path })).toThrow(
      /chat\.gguf has no chat template named 'rag'; it has default, tool_use/,
    );
    await file.close();
  });

  it('gives undefined for a file without a template, and reads bare metadata values too', async () => {
    const file = await ggufWith({});
    expect(await chatTemplateOf(file)).toBeUndefined();
    await file.close();
    const bare = new Map<string, unknown>([
      ['tokenizer.chat_template', CHATML],
      ['tokenizer.ggml.tokens', ['<s>', '</s>']],
      ['tokenizer.ggml.eos_token_id', 1],
    ]);
    expect(chatTemplateOfGguf(bare)).toMatchObject({ source: CHATML, eosToken: '</s>' });
    expect(chatTemplateOfGguf(bare)?.bosToken).toBeUndefined();
  });

  const stories = modelFile('stories260K.gguf');
  it.skipIf(stories === undefined)('finds none in stories260K', async () => {
    const file = await openGguf(stories!);
    expect(await chatTemplateOf(file)).toBeUndefined();
    await file.close();
  });
});

describe('chat templates of Hugging Face folders', () => {
  it("reads tokenizer_config.json's chat_template string with bos_token and eos_token as strings or {content}", async () => {
    const folder = blobFolder(
      'qwen',
      new Map([
        [
          'tokenizer_config.json',
          json({
            chat_template: CHATML,
            bos_token: null,
            eos_token: { content: '<|im_end|>', lstrip: false, special: true },
          }),
        ],
      ]),
    );
    expect(await chatTemplateOf(folder)).toEqual({
      source: CHATML,
      origin: 'qwen/tokenizer_config.json',
      name: 'default',
      names: ['default'],
      eosToken: '<|im_end|>',
    });
  });

  it('chooses "default" from a list of named templates unless asked for another', async () => {
    const config = {
      bos_token: '<s>',
      chat_template: [
        { name: 'default', template: CHATML },
        { name: 'tool_use', template: TOOL_USE },
      ],
    };
    const folder = blobFolder('hermes', new Map([['tokenizer_config.json', json(config)]]));
    expect(await chatTemplateOf(folder)).toMatchObject({
      source: CHATML,
      name: 'default',
      names: ['default', 'tool_use'],
      bosToken: '<s>',
      origin: 'hermes/tokenizer_config.json (default)',
    });
    expect((await chatTemplateOf(folder, { name: 'tool_use' }))?.source).toBe(TOOL_USE);
    // Without a default, transformers refuses to guess; so does this.
    const noDefault = { chat_template: [{ name: 'tool_use', template: TOOL_USE }] };
    expect(() => chatTemplateOfHfFiles({ tokenizerConfig: noDefault }, { folder: 'x' })).toThrow(
      /x has chat templates named tool_use but no default one/,
    );
    try {
      chatTemplateOfHfFiles({ tokenizerConfig: noDefault });
    } catch (error) {
      expect(error).toBeInstanceOf(ModelFileError);
      expect((error as ModelFileError).code).toBe('not_found');
    }
  });

  it('prefers chat_template.jinja (the newer layout) and reads chat_template.json and named .jinja files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chat-template-'));
    await writeFile(join(dir, 'chat_template.jinja'), CHATML);
    await writeFile(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ chat_template: 'old', eos_token: '</s>' }),
    );
    await mkdir(join(dir, 'additional_chat_templates'));
    await writeFile(join(dir, 'additional_chat_templates', 'tool_use.jinja'), TOOL_USE);
    const folder = directoryFolder(dir);
    expect(await chatTemplateOf(folder)).toMatchObject({
      source: CHATML,
      origin: `${dir}/chat_template.jinja`,
      eosToken: '</s>',
    });
    expect(await chatTemplateOf(folder, { name: 'tool_use' })).toMatchObject({
      source: TOOL_USE,
      origin: `${dir}/additional_chat_templates/tool_use.jinja`,
      names: ['default', 'tool_use'],
    });
    const processor = blobFolder(
      'llava',
      new Map([['chat_template.json', json({ chat_template: TOOL_USE })]]),
    );
    expect(await chatTemplateOf(processor)).toMatchObject({
      source: TOOL_USE,
      origin: 'llava/chat_template.json',
    });
  });

  it('gives undefined for a folder without a template and refuses malformed chat_template values', async () => {
    expect(await chatTemplateOf(blobFolder('empty', new Map()))).toBeUndefined();
    expect(
      await chatTemplateOf(
        blobFolder('base', new Map([['tokenizer_config.json', json({ bos_token: '<s>' })]])),
      ),
    ).toBeUndefined();
    expect(() => chatTemplateOfHfFiles({ tokenizerConfig: { chat_template: 3 } })).toThrow(HfFormatError);
    expect(() => chatTemplateOfHfFiles({ tokenizerConfig: { chat_template: [{ name: 'x' }] } })).toThrow(
      /chat_template\[0\] is not a \{"name": string, "template": string\} entry/,
    );
  });
});
