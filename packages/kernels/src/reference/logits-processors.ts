import type { RowLogitsProcessors } from '../kernels/pack-logits-processors.js';

const fr = Math.fround;

/**
 * `logitsProcessors` on the CPU, straight from the settings (no packing), in place on
 * `rows.length` rows of `vocab` logits, with the kernel's f32 arithmetic: for each distinct
 * token, l · (l > 0 ? f32(1/r) : r) if it is in the prompt or output and r != 1, then
 * l - f32(presence + frequency · count) if its output count is > 0 and that is non-zero, then
 * l + bias for a non-zero bias; a -Infinity bias sets -Infinity instead. Inputs are not
 * validated (packLogitsProcessors does that).
 */
export function applyLogitsProcessors(
  logits: Float32Array,
  vocab: number,
  rows: readonly RowLogitsProcessors[],
): Float32Array {
  rows.forEach((p, row) => {
    const r = fr(p.repetitionPenalty ?? 1);
    const presence = p.presencePenalty ?? 0;
    const frequency = p.frequencyPenalty ?? 0;
    const seen = new Set<number>(p.promptTokens ?? []);
    const counts = new Map<number, number>();
    for (const id of p.outputTokens ?? []) {
      seen.add(id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const bias = new Map<number, number>(
      p.logitBias instanceof Map
        ? p.logitBias
        : Object.entries(p.logitBias ?? {}).map(([k, v]) => [Number(k), v] as [number, number]),
    );
    const tokens = new Set([...(r !== 1 ? seen : []), ...counts.keys(), ...bias.keys()]);
    for (const id of tokens) {
      const at = row * vocab + id;
      const b = bias.get(id) ?? 0;
      if (b === -Infinity) {
        logits[at] = -Infinity;
        continue;
      }
      let l = logits[at]!;
      if (r !== 1 && seen.has(id)) l = fr(l * (l > 0 ? fr(1 / r) : r));
      const count = counts.get(id) ?? 0;
      const penalty = count > 0 ? fr(presence + frequency * count) : 0;
      if (penalty !== 0) l = fr(l - penalty);
      if (b !== 0) l = fr(l + fr(b));
      logits[at] = l;
    }
  });
  return logits;
}
