import type { RunnerOptions } from '@llm/model';
import type { Tokenizer } from '@llm/tokenizer';
import { CliUsageError } from '../cli-error.js';
import { readCalibrationText } from './calibration-text.js';

// The calibration pass runs the model on the CPU at load: a few hundred tokens find the
// activations' outlier channels, and the pass takes seconds per 100M parameters per 100 tokens.
const CALIBRATION_TOKENS = 512;
const CALIBRATION_WINDOW = 256;

/**
 * `--w8a8 FILE`: the runner's w8a8 option, calibrated on the first 512 tokens of the text in FILE
 * (with BOS), in windows of up to 256 tokens each read from the start as a prompt.
 */
export async function w8a8Option(
  file: string | undefined,
  backend: string,
  tokenizer: Tokenizer,
  contextLength: number,
): Promise<RunnerOptions['w8a8']> {
  if (file === undefined) return undefined;
  if (backend === 'cpu') throw new CliUsageError('--w8a8 runs on the webgpu backend, not with --backend cpu');
  const text = await readCalibrationText('w8a8', file);
  const tokens = tokenizer.encode(text, { addSpecial: true }).slice(0, CALIBRATION_TOKENS);
  if (tokens.length < 2) throw new CliUsageError(`--w8a8 ${file}: ${tokens.length} tokens; calibration needs some text`);
  const window = Math.min(CALIBRATION_WINDOW, contextLength);
  const calibration: number[][] = [];
  for (let at = 0; at < tokens.length; at += window) calibration.push(tokens.slice(at, at + window));
  return { calibration };
}
