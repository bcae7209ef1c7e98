import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(appRoot, '..', '..');

export interface LlmRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `llm` CLI in a child process, as a user would through `pnpm llm`. With
 * `closeStdoutEarly` the reader goes away after the first output, as `| head -1` does.
 */
export function runLlm(
  args: string[],
  stdin?: string,
  { closeStdoutEarly = false, env = {} }: { closeStdoutEarly?: boolean; env?: Record<string, string> } = {},
): Promise<LlmRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(appRoot, 'src', 'cli.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (closeStdoutEarly) child.stdout.destroy();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // The CLI may exit before it reads all of stdin (a refusal, or a closed stdout).
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(stdin ?? '');
  });
}
