import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, arch, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where every benchmark's JSON lands: bench/results/<name>.json. */
export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export interface MachineInfo {
  cpuModel: string;
  /** Logical cores this process may use. */
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  /** When the result was written, ISO 8601. */
  date: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${platform()}-${arch()} ${release()}`,
    date: new Date().toISOString(),
  };
}

/**
 * Writes bench/results/<name>.json: `{benchmark, machine, ...data}`, pretty-printed. The file
 * appears whole or not at all (written beside it, then renamed). Returns its path.
 */
export function writeResult(name: string, data: Record<string, unknown>): string {
  for (const reserved of ['benchmark', 'machine']) {
    if (reserved in data) throw new Error(`benchmark data may not have a top-level "${reserved}" field`);
  }
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  const json = JSON.stringify({ benchmark: name, machine: machineInfo(), ...data }, null, 2);
  writeFileSync(`${path}.tmp`, `${json}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

export type Cell = string | number | boolean | null | undefined;

/** Prints rows as an aligned text table on stdout, columns in first-seen key order. */
export function printTable(rows: readonly Record<string, Cell>[]): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column])));
  const numeric = columns.map((column) => rows.every((row) => typeof (row[column] ?? 0) === 'number'));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((line) => line[i]!.length)));
  const pad = (text: string, i: number) => (numeric[i] ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const lines = [
    columns.map(pad).join('  '),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...cells.map((line) => line.map(pad).join('  ')),
  ];
  process.stdout.write(`${lines.map((line) => line.trimEnd()).join('\n')}\n`);
}

function formatCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value) || !Number.isFinite(value)) return String(value);
  // Four significant digits: benchmark noise is larger than that.
  return Number(value.toPrecision(4)).toString();
}

/** A progress line on stderr (stdout carries only results). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
