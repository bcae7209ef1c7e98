/**
 * The lanes layout of a matrix part (see GpuMatrixPart): rows in blocks of `lanes`, the last
 * padded with zeros, and within a block the rows' units interleaved, unit u of row n at
 * `((n / lanes) * U + u) * lanes + n % lanes` for U units per row. A unit is 16 bytes of f32 or
 * f16 values, or a 32-element group of a block type (its quant words, and in the scales array its
 * scale). The host side moves units into place; the WGSL side finds them.
 */

/**
 * `rows` rows of `src`, each of whole units of `unitLength` array elements, in the lanes layout
 * (a new array of the same type, zeros in the padding rows).
 */
export function interleaveLanes<T extends Uint32Array | Uint16Array>(src: T, rows: number, unitLength: number, lanes: number): T {
  const rowLength = src.length / rows;
  const units = rowLength / unitLength;
  const out = new (src.constructor as new (length: number) => T)(Math.ceil(rows / lanes) * lanes * rowLength);
  // Element by element: a subarray per unit costs more than the copy (seconds for a 1.1B model).
  const step = unitLength * lanes;
  for (let n = 0; n < rows; n++) {
    let o = (Math.floor(n / lanes) * units * lanes + (n % lanes)) * unitLength;
    let i = n * rowLength;
    for (let u = 0; u < units; u++, o += step) {
      for (let e = 0; e < unitLength; e++, i++) out[o + e] = src[i]!;
    }
  }
  return out;
}

/** WGSL index of unit 0 of row `n` (u32 expressions), `units` units per row; row-major without `lanes`. */
export const laneRowBase = (n: string, units: string, lanes: number | undefined): string =>
  lanes ? `(${n}) / ${lanes}u * ${units} * ${lanes}u + (${n}) % ${lanes}u` : `(${n}) * ${units}`;

/** WGSL distance from a row's unit 0 to its unit `u`. */
export const laneUnitOffset = (u: string, lanes: number | undefined): string => (lanes ? `(${u}) * ${lanes}u` : u);

/** WGSL index of unit `i` of the row-major order (`units` per row) in the lanes layout. */
export const laneIndex = (i: string, units: string, lanes: number): string =>
  `${laneRowBase(`(${i}) / ${units}`, units, lanes)} + ${laneUnitOffset(`(${i}) % ${units}`, lanes)}`;
