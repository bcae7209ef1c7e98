import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';
import { runLlm, type LlmRun } from './run-llm.test-support.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const gguf = modelFile('stories260K.gguf');

function pnpm(args: string[]): Promise<LlmRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('pnpm', args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('pnpm llm at the repository root', () => {
  it.skipIf(!gguf)('prints only the command result on stdout (no script banner)', async () => {
    const run = await pnpm(['llm', 'info', gguf!]);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { format: string }).format).toBe('gguf');
  });

  it('prints only the help on stdout for pnpm llm --help', async () => {
    const [viaPnpm, direct] = await Promise.all([pnpm(['llm', '--help']), runLlm(['--help'])]);
    expect(viaPnpm.code, viaPnpm.stderr).toBe(0);
    expect(viaPnpm.stdout).toBe(direct.stdout);
  });

  it("shows pnpm's own error for a mistyped command and exits non-zero", async () => {
    const run = await pnpm(['lmm', 'info']);
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/lmm.*not found/);
  });
});
