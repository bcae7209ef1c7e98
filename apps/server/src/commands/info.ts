import { describeModelFile } from '@llm/formats/node';
import { CliUsageError } from '../cli-error.js';
import { parseOptions } from './parse-options.js';

export async function infoCommand(args: string[]): Promise<void> {
  const { positionals } = parseOptions(args, {}, true);
  const [path, ...extra] = positionals;
  if (!path || extra.length > 0) throw new CliUsageError('usage: llm info PATH');
  process.stdout.write(`${JSON.stringify(await describeModelFile(path), null, 2)}\n`);
}
