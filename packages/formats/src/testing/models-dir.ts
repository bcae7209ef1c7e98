import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// packages/formats/src/testing -> repo root is four levels up; the real weights live beside the repo.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Folder with the real model files used by tests: $LLM_MODELS_DIR, else ../shared/models beside the repo. */
export function modelsDir(): string {
  return process.env['LLM_MODELS_DIR'] ?? join(repoRoot, '..', 'shared', 'models');
}

// Notes already printed: a test file asks for the same model once per suite, the note says it once.
const reported = new Set<string>();

/**
 * Path of a file under the models folder, or undefined when it is absent outside CI, after saying
 * on stderr which tests skip and why. Under CI=true a missing file throws: tests that need real
 * weights must run there.
 */
export function modelFile(relativePath: string): string | undefined {
  const path = join(modelsDir(), relativePath);
  if (existsSync(path)) return path;
  if (process.env['CI'] === 'true') {
    throw new Error(`model file ${path} is missing; set LLM_MODELS_DIR or place shared/ beside the repo`);
  }
  if (!reported.has(path)) {
    reported.add(path);
    // console.warn, not process.stderr: vitest prints it under the name of the test file asking.
    console.warn(
      `skipped: tests that need ${relativePath}: ${path} not found; ` +
        'set LLM_MODELS_DIR to the test models folder (the README says where they come from)',
    );
  }
  return undefined;
}
