import { readFile } from 'node:fs/promises';
import { CliUsageError } from '../cli-error.js';

/** The text of a calibration file given as `--FLAG FILE`; a missing file or a folder exits 2 naming it. */
export async function readCalibrationText(flag: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliUsageError(`--${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a text file' : String(error)}`);
  }
}
