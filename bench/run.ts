// `pnpm bench <name> [args]`: runs bench/<name>.ts's exported `main(args)`.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { progress } from './report.js';

interface BenchmarkModule {
  main(args: string[]): Promise<void> | void;
}

const benchDir = dirname(fileURLToPath(import.meta.url));

/** Benchmarks are the bench/*.ts files that export `main`; the rest are shared helpers. */
function availableBenchmarks(): string[] {
  return readdirSync(benchDir)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && file !== 'run.ts')
    .filter((file) => /^export (async )?function main\(/m.test(readFileSync(join(benchDir, file), 'utf8')))
    .map((file) => file.slice(0, -'.ts'.length))
    .sort();
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: pnpm bench <name> [args]\navailable benchmarks: ${availableBenchmarks().join(', ')}\n`,
  );
  process.exit(2);
}

const [name, ...args] = process.argv.slice(2);
if (name === undefined) usage('no benchmark named');
if (!availableBenchmarks().includes(name)) usage(`unknown benchmark "${name}"`);

const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as BenchmarkModule;
const started = performance.now();
await module.main(args);
progress(`${name} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
// A Dawn instance or llama.cpp's thread pool may keep the event loop alive after main returns.
process.exit(process.exitCode ?? 0);
