/**
 * The 12-byte scale fields of the K-quants. Q4_K and Q5_K pack eight 6-bit (scale, min) pairs;
 * Q3_K packs sixteen 6-bit signed scales (offset by 32). Layouts as ggml-quants.c reads them:
 *
 *   Q4_K/Q5_K  bytes 0-3: scales 0-3 (low 6 bits) | high 2 bits of scales 4-7
 *              bytes 4-7: mins 0-3 (low 6 bits)   | high 2 bits of mins 4-7
 *              bytes 8-11: low 4 bits of scales 4-7 | low 4 bits of mins 4-7 << 4
 *   Q3_K       bytes 0-7: low 4 bits of scales 0-7 | low 4 bits of scales 8-15 << 4
 *              bytes 8-11: high 2 bits of scales j at bit 2 * (j / 4) of byte 8 + j % 4
 */

/** ggml's get_scale_min_k4 for sub-block `j` (0-7): the 6-bit scale in [0] and min in [1]. */
export function scaleMinK4(j: number, bytes: Uint8Array, at: number, out: Uint8Array): void {
  if (j < 4) {
    out[0] = bytes[at + j]! & 63;
    out[1] = bytes[at + j + 4]! & 63;
  } else {
    out[0] = (bytes[at + j + 4]! & 0xf) | ((bytes[at + j - 4]! >> 6) << 4);
    out[1] = (bytes[at + j + 4]! >> 4) | ((bytes[at + j]! >> 6) << 4);
  }
}

/** Stores sub-block `j`'s 6-bit scale and min; the field must start zeroed. */
export function packScaleMinK4(j: number, scale: number, min: number, bytes: Uint8Array, at: number): void {
  if (j < 4) {
    bytes[at + j] = scale;
    bytes[at + j + 4] = min;
  } else {
    bytes[at + j + 4] = (scale & 0xf) | ((min & 0xf) << 4);
    bytes[at + j - 4]! |= (scale >> 4) << 6;
    bytes[at + j]! |= (min >> 4) << 6;
  }
}

/** Q3_K's signed scale of 16-element group `j` (0-15), in [-32, 31]. */
export function scaleQ3K(j: number, bytes: Uint8Array, at: number): number {
  const low = j < 8 ? bytes[at + j]! & 0xf : bytes[at + j - 8]! >> 4;
  const high = (bytes[at + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/** Stores Q3_K's scale `j` already offset by 32 (0-63); the field must start zeroed. */
export function packScaleQ3K(j: number, offsetScale: number, bytes: Uint8Array, at: number): void {
  if (j < 8) bytes[at + j] = offsetScale & 0xf;
  else bytes[at + j - 8]! |= (offsetScale & 0xf) << 4;
  bytes[at + 8 + (j % 4)]! |= (offsetScale >> 4) << (2 * (j >> 2));
}
