import { spawn, type ChildProcess } from 'node:child_process';
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

export interface Served {
  child: ChildProcess;
  baseUrl: string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Milliseconds from the spawn to the first /health 200. */
  readyMs: number;
}

/** `llm serve` in its own process group, as a supervisor runs it; resolves once /health says 200. */
export async function startServe(args: string[]): Promise<Served> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(appRoot, 'src', 'cli.ts'), 'serve', '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const poll = setInterval(() => {
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearInterval(poll);
        resolve(match[1]!);
      }
      if (child.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`llm serve exited with ${child.exitCode}:\n${stderr}`));
      }
    }, 50);
  });
  for (;;) {
    const status = await fetch(`${baseUrl}/health`).then((r) => r.status);
    if (status === 200) break;
    if (status !== 503) throw new Error(`/health answered ${status} while loading (503 expected):\n${stderr}`);
    if (performance.now() - started > 120_000) throw new Error(`no /health 200 within 120 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, baseUrl, stderr: () => stderr, exited, readyMs: performance.now() - started };
}
