import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const gguf = modelFile('stories260K.gguf');

describe.skipIf(!gguf)('pnpm llm at the repository root', () => {
  it('prints only the command result on stdout (no script banner)', async () => {
    const { stdout } = await promisify(execFile)('pnpm', ['llm', 'info', gguf!], { cwd: repoRoot });
    expect((JSON.parse(stdout) as { format: string }).format).toBe('gguf');
  });
});
