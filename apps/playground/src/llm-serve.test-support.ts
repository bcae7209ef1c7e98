import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { appRoot } from './playground-build.test-support.js';

const repoRoot = join(appRoot, '..', '..');

export interface Served {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly stderr: () => string;
  stop(): Promise<void>;
}

/** A real `llm serve` (apps/server's CLI) on an ephemeral loopback port; resolves once /health answers 200. */
export async function startLlmServe(args: readonly string[]): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'apps', 'server', 'src', 'cli.ts'), 'serve', '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = performance.now() + 120_000;
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(stderr);
    if (match) {
      const health = await fetch(`${match[1]}/health`).then((r) => r.status, () => 0);
      if (health === 200) return { child, baseUrl: match[1]!, stderr: () => stderr, stop };
    }
    if (child.exitCode !== null || performance.now() > deadline) {
      await stop();
      throw new Error(`llm serve did not become healthy:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
