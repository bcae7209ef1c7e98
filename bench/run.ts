// `pnpm bench <name> [args]`: runs bench/<name>.ts's exported `main(args)`; `pnpm bench` lists them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { progress } from './console-report.js';

interface BenchmarkModule {
  main(args: readonly string[]): Promise<unknown>;
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

const usage = 'usage: pnpm bench <name> [args]';
const [name, ...args] = process.argv.slice(2);
if (name === undefined) {
  process.stdout.write(`${usage}\nbenchmarks: ${availableBenchmarks().join(', ')}\n`);
  process.exit(0);
}
if (!availableBenchmarks().includes(name)) {
  process.stderr.write(
    `unknown benchmark "${name}"\n${usage}\nbenchmarks: ${availableBenchmarks().join(', ')}\n`,
  );
  process.exit(2);
}

const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as BenchmarkModule;
const started = performance.now();
try {
  await module.main(args);
  progress(`${name} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
// A Dawn instance or llama.cpp's thread pool may keep the event loop alive after main returns.
process.exit(process.exitCode ?? 0);
