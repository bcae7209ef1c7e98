import { ModelFileError } from '../errors.js';

const described: Readonly<Record<string, [problem: string, code: 'not_found' | 'invalid_argument']>> = {
  ENOENT: ['no such file or folder', 'not_found'],
  ENOTDIR: ['a part of the path is not a folder', 'not_found'],
  EISDIR: ['is a folder, not a file', 'invalid_argument'],
  EACCES: ['permission denied', 'invalid_argument'],
  EPERM: ['permission denied', 'invalid_argument'],
};

/**
 * A file-system failure as a coded ModelFileError (`not_found` for a missing path), so callers
 * tell a typo from a broken file without knowing Node's errno names; anything else is rethrown.
 */
export function fileSystemError(error: unknown, path: string): unknown {
  const errno = (error as { code?: unknown } | null)?.code;
  const known = typeof errno === 'string' ? described[errno] : undefined;
  if (!known) return error;
  const [problem, code] = known;
  return new ModelFileError(`${path}: ${problem}`, path, code);
}
