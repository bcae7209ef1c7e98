/** Every run of one figure, in the order measured, with their extremes. */
export interface Spread {
  runs: number[];
  min: number;
  max: number;
}

/** The median of the runs (the mean of the middle two for an even count) and their spread. */
export function summarizeRuns(runs: readonly number[]): { median: number; spread: Spread } {
  if (runs.length === 0) throw new RangeError('no runs to summarize');
  const sorted = [...runs].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, spread: { runs: [...runs], min: sorted[0]!, max: sorted[sorted.length - 1]! } };
}
