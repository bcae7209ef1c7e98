import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCodeOf } from '@llm/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFileError } from '../errors.js';
import { describeModelFile } from './describe-model-file.js';
import { detectModelFormat } from './detect-format.js';
import { fileSource } from './file-source.js';

describe('file-system failures', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-fs-error-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('report a missing path as a not_found ModelFileError naming it, whichever entry point meets it', async () => {
    const missing = join(dir, 'no-such-model.gguf');
    // One at a time: a call started before the previous one settles could reject unobserved.
    for (const attempt of [() => fileSource(missing), () => describeModelFile(missing), () => detectModelFormat(missing)]) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ModelFileError);
      expect(errorCodeOf(error)).toBe('not_found');
      expect((error as Error).message).toBe(`${missing}: no such file or folder`);
    }
  });

  it('report a folder opened as a file as invalid_argument', async () => {
    const error = await fileSource(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(errorCodeOf(error)).toBe('invalid_argument');
    expect((error as Error).message).toMatch(/is a folder, not a file/);
  });
});
