import { exec } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type Served } from './run-llm.test-support.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
const run = promisify(exec);
const SETUP = 'bash tooling/setup.sh && ';
// The README's examples talk to the default address; the test's server listens on a free port.
const README_ADDRESS = 'http://127.0.0.1:8000';

describe.skipIf(!modelFile('stories260K.gguf'))("the README's first commands", () => {
  let served: Served;
  let examples: string[];

  beforeAll(async () => {
    const [serveCommand, testCommand, ...rest] = blocks;
    expect(serveCommand?.startsWith(`${SETUP}pnpm llm serve `)).toBe(true);
    expect(testCommand).toBe(`${SETUP}pnpm test`);
    examples = rest.slice(0, 2);
    // The setup has run (the tests run after it); what follows it is the serve command itself.
    const args = serveCommand!.slice(`${SETUP}pnpm llm serve `.length).split(/\s+/);
    served = await startServe(args);
  });
  afterAll(() => {
    if (served?.child.exitCode === null) process.kill(-served.child.pid!, 'SIGKILL');
  });

  const runExample = (example: string) =>
    run(example.replaceAll(README_ADDRESS, served.baseUrl), { cwd: repoRoot, shell: '/bin/bash', timeout: 60_000 });

  it('serves stories260K, and the curl line gets a completion', async () => {
    const curl = examples[0]!;
    expect(curl).toMatch(/^curl .*\/v1\/completions/);
    const { stdout } = await runExample(curl);
    const body = JSON.parse(stdout) as { model: string; choices: { text: string; finish_reason: string }[] };
    expect(body.model).toBe('stories260K');
    expect(body.choices[0]!.text.length).toBeGreaterThan(20);
    expect(body.choices[0]!.finish_reason).toMatch(/^(stop|length)$/);
  });

  it('and the openai client snippet streams a chat reply', async () => {
    const snippet = examples[1]!;
    expect(snippet).toMatch(/import OpenAI from "openai"/);
    const { stdout } = await runExample(snippet);
    expect(stdout.trim().length).toBeGreaterThan(20);
    expect(stdout.endsWith('\n')).toBe(true);
  });
});
