import { convertModel } from '@llm/formats/node';
import { progressLine } from '../progress.js';
import type { convertSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';

export async function convertCommand({ values, positionals }: ParsedOptions<typeof convertSpec>): Promise<void> {
  const [input, output] = positionals as [string, string];
  const progress = progressLine(`converting ${input}`);
  const result = await convertModel(input, output, {
    type: values.type,
    ...(values.tokenizer === undefined ? {} : { tokenizerPath: values.tokenizer }),
    onProgress: ({ done, total }) => progress(done, total),
  });
  if (result.to === 'hf' && result.tokenizerFiles.length === 0) {
    process.stderr.write(
      `[llm] warning: ${output} has no tokenizer files (this vocabulary has no Hugging Face form here yet); ` +
        'open it with --tokenizer\n',
    );
  }
  process.stderr.write(`[llm] wrote ${output}\n`);
}
