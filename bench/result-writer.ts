import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterInfo, machineInfo } from './run-environment.js';

/** Where every benchmark's JSON lands: bench/results/<name>.json. */
export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

// Fields the writer adds to every result; a benchmark's own data may not use them.
const RESERVED = ['benchmark', 'date', 'command', 'machine', 'webgpuAdapter'] as const;

/**
 * Writes bench/results/<name>.json: `{benchmark, date, command, machine, webgpuAdapter, ...data}`,
 * pretty-printed. The file appears whole or not at all (written beside it, then renamed).
 * Returns its path.
 */
export async function writeResult(name: string, data: Record<string, unknown>): Promise<string> {
  for (const reserved of RESERVED) {
    if (reserved in data) throw new Error(`benchmark data may not have a top-level "${reserved}" field`);
  }
  const result = {
    benchmark: name,
    date: new Date().toISOString(),
    command: commandLine(process.argv.slice(2)),
    machine: machineInfo(),
    webgpuAdapter: await adapterInfo(),
    ...data,
  };
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** The command that reproduces the run: bench/run.ts is the only entry, `pnpm bench` its script. */
function commandLine(args: readonly string[]): string {
  const quote = (arg: string) => (/^[\w./=:@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);
  return ['pnpm', 'bench', ...args.map(quote)].join(' ');
}
