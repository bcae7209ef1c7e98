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
