import { convertModel } from '@llm/formats/node';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import { parseOptions } from './parse-options.js';

export async function convertCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseOptions(
    args,
    { tokenizer: { type: 'string' }, type: { type: 'string' } },
    true,
  );
  const [input, output, ...extra] = positionals;
  if (!input || !output || extra.length > 0) throw new CliUsageError('usage: llm convert IN OUT [--tokenizer PATH] [--type f32|f16]');
  const type = values.type ?? 'f32';
  if (type !== 'f32' && type !== 'f16') throw new CliUsageError(`--type must be f32 or f16, got '${type}'`);
  const progress = progressLine(`converting ${input}`);
  await convertModel(input, output, {
    type,
    ...(values.tokenizer === undefined ? {} : { tokenizerPath: values.tokenizer }),
    onProgress: ({ done, total }) => progress(done, total),
  });
  process.stderr.write(`[llm] wrote ${output}\n`);
}
