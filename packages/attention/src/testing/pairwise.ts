/**
 * A pairwise covering design: rows of factor levels such that every pair of levels of any two
 * factors appears in at least one row. Greedy (AETG-style) with a seeded tie-break, so the same
 * factors always give the same rows; far fewer rows than the full product.
 */
export function pairwiseRows<F extends Record<string, readonly unknown[]>>(
  factors: F,
  rand: () => number,
): Array<{ [K in keyof F]: F[K][number] }> {
  const names = Object.keys(factors) as Array<keyof F & string>;
  const sizes = names.map((n) => factors[n]!.length);
  const uncovered = new Set<string>();
  const pairKey = (a: number, la: number, b: number, lb: number) => `${a}:${la}|${b}:${lb}`;
  for (let a = 0; a < names.length; a++) {
    for (let b = a + 1; b < names.length; b++) {
      for (let la = 0; la < sizes[a]!; la++)
        for (let lb = 0; lb < sizes[b]!; lb++) uncovered.add(pairKey(a, la, b, lb));
    }
  }
  const rows: number[][] = [];
  // Candidates per row: each starts from a random uncovered pair and fills the other factors
  // with the levels that cover the most remaining pairs.
  const CANDIDATES = 24;
  while (uncovered.size > 0) {
    let best: number[] | undefined;
    let bestGain = -1;
    for (let c = 0; c < CANDIDATES; c++) {
      const row = new Array<number>(names.length).fill(-1);
      const seed = [...uncovered][Math.floor(rand() * uncovered.size)]!;
      const [[fa, la], [fb, lb]] = seed.split('|').map((p) => p.split(':').map(Number)) as [
        [number, number],
        [number, number],
      ];
      row[fa] = la;
      row[fb] = lb;
      const order = names.map((_, i) => i).filter((i) => row[i] === -1);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const f of order) {
        let bestLevel = 0;
        let bestCount = -1;
        for (let level = 0; level < sizes[f]!; level++) {
          let count = 0;
          for (let g = 0; g < names.length; g++) {
            if (g === f || row[g] === -1) continue;
            const key = f < g ? pairKey(f, level, g, row[g]!) : pairKey(g, row[g]!, f, level);
            if (uncovered.has(key)) count++;
          }
          if (count > bestCount || (count === bestCount && rand() < 0.5)) {
            bestCount = count;
            bestLevel = level;
          }
        }
        row[f] = bestLevel;
      }
      const gain = coveredBy(row).filter((k) => uncovered.has(k)).length;
      if (gain > bestGain) {
        bestGain = gain;
        best = row;
      }
    }
    for (const k of coveredBy(best!)) uncovered.delete(k);
    rows.push(best!);
  }
  return rows.map(
    (row) =>
      Object.fromEntries(names.map((n, i) => [n, factors[n]![row[i]!]])) as { [K in keyof F]: F[K][number] },
  );

  function coveredBy(row: number[]): string[] {
    const keys: string[] = [];
    for (let a = 0; a < row.length; a++)
      for (let b = a + 1; b < row.length; b++) keys.push(pairKey(a, row[a]!, b, row[b]!));
    return keys;
  }
}

/** Pairs of factor levels that no row covers (empty for a covering design). */
export function uncoveredPairs(
  factors: Record<string, readonly unknown[]>,
  rows: ReadonlyArray<Record<string, unknown>>,
): string[] {
  const names = Object.keys(factors);
  const missing: string[] = [];
  for (let a = 0; a < names.length; a++) {
    for (let b = a + 1; b < names.length; b++) {
      const na = names[a]!;
      const nb = names[b]!;
      for (const la of factors[na]!) {
        for (const lb of factors[nb]!) {
          if (!rows.some((r) => r[na] === la && r[nb] === lb))
            missing.push(`${na}=${String(la)} ${nb}=${String(lb)}`);
        }
      }
    }
  }
  return missing;
}
