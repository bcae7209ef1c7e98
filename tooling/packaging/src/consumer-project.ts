import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PackedPackage } from './pack.js';

/**
 * A fresh npm project outside the workspace with every tarball installed, as a user would: no
 * workspace links, no hoisted devDependencies. `extra` adds registry packages (name -> range).
 */
export function createConsumerProject(
  packed: readonly PackedPackage[],
  extra: Readonly<Record<string, string>>,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-consumer-'));
  const dependencies: Record<string, string> = { ...extra };
  for (const p of packed) dependencies[p.name] = `file:${p.tarball}`;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'llm-consumer', private: true, type: 'module', dependencies }, null, 2),
  );
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return dir;
}
