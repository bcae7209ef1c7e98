import { describeModelFile } from '@llm/formats/node';
import type { infoSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';

export async function infoCommand({ positionals: [path] }: ParsedOptions<typeof infoSpec>): Promise<void> {
  process.stdout.write(`${JSON.stringify(await describeModelFile(path!), null, 2)}\n`);
}
