import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dequantize, quantize } from './block-codecs.js';

// The Q8_0 and Q4_0 files of shared/models/synthetic were written by a tool independent of both
// ggml and this project, from the weights of gqa-d128-f32.gguf, with ggml's reference quantizers.
// Quantizing those f32 weights must give the stored blocks byte for byte. @llm/quant sits below
// @llm/formats, so the few lines of GGUF reading the test needs are here.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const syntheticDir = join(
  process.env['LLM_MODELS_DIR'] ?? join(repoRoot, '..', 'shared', 'models'),
  'synthetic',
);
const present = existsSync(join(syntheticDir, 'gqa-d128-f32.gguf'));
if (!present && process.env['CI'] === 'true')
  throw new Error(`${syntheticDir} is missing; set LLM_MODELS_DIR`);
if (!present)
  console.warn(`skipped: synthetic GGUF cross-checks: ${syntheticDir} not found; set LLM_MODELS_DIR`);

interface TensorBytes {
  ggmlType: number;
  dims: number[];
  bytes: Uint8Array;
}

const ggmlTypeSizes = new Map([
  [0, [1, 4]],
  [2, [32, 18]],
  [8, [32, 34]],
]);

/** Tensor name -> type, shape and bytes, for GGUF v2/v3 files of F32, Q4_0 and Q8_0 tensors. */
function readGguf(path: string): Map<string, TensorBytes> {
  const file = readFileSync(path);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = 0;
  const u32 = (): number => ((at += 4), view.getUint32(at - 4, true));
  const u64 = (): number => ((at += 8), Number(view.getBigUint64(at - 8, true)));
  const str = (): string => {
    const length = u64();
    at += length;
    return file.toString('utf8', at - length, at);
  };
  const scalarSizes: Record<number, number> = {
    0: 1,
    1: 1,
    2: 2,
    3: 2,
    4: 4,
    5: 4,
    6: 4,
    7: 1,
    10: 8,
    11: 8,
    12: 8,
  };
  const skipValue = (type: number): number | undefined => {
    if (type === 8) return void str();
    if (type === 9) {
      const elementType = u32();
      const count = u64();
      for (let i = 0; i < count; i++) skipValue(elementType);
      return undefined;
    }
    const value = type === 4 ? view.getUint32(at, true) : undefined;
    at += scalarSizes[type]!;
    return value;
  };
  expect(file.toString('latin1', 0, 4)).toBe('GGUF');
  at = 8;
  const tensorCount = u64();
  const kvCount = u64();
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    const value = skipValue(u32());
    if (key === 'general.alignment' && value !== undefined) alignment = value;
  }
  const infos = Array.from({ length: tensorCount }, () => {
    const name = str();
    const dims = Array.from({ length: u32() }, u64);
    return { name, dims, ggmlType: u32(), offset: u64() };
  });
  const dataStart = Math.ceil(at / alignment) * alignment;
  return new Map(
    infos.map(({ name, dims, ggmlType, offset }) => {
      const [blockSize, bytesPerBlock] = ggmlTypeSizes.get(ggmlType)!;
      const length = (dims.reduce((a, b) => a * b, 1) / blockSize!) * bytesPerBlock!;
      const start = file.byteOffset + dataStart + offset;
      return [name, { ggmlType, dims, bytes: new Uint8Array(file.buffer.slice(start, start + length)) }];
    }),
  );
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe.runIf(present)('the synthetic GGUF files of an independent writer', () => {
  const f32 = present ? readGguf(join(syntheticDir, 'gqa-d128-f32.gguf')) : new Map<string, TensorBytes>();

  it.each([
    ['q8_0', 'gqa-d128-q8_0.gguf', 8, 1 / 127],
    ['q4_0', 'gqa-d128-q4_0.gguf', 2, 1 / 7],
  ] as const)(
    '%s: quantizing the f32 weights reproduces every stored block',
    (type, file, ggmlType, errorPerAbsMax) => {
      const quantized = readGguf(join(syntheticDir, file));
      let tensors = 0;
      for (const [name, stored] of quantized) {
        if (stored.dims.length !== 2) continue;
        expect(stored.ggmlType, name).toBe(ggmlType);
        const weights = new Float32Array(f32.get(name)!.bytes.buffer);
        const ours = quantize(type, weights);
        expect(firstDifference(ours, stored.bytes), name).toBe(-1);
        // Error relative to each block's largest magnitude, worst over the tensor.
        const decoded = dequantize(type, stored.bytes, weights.length);
        let worst = 0;
        for (let b = 0; b < weights.length; b += 32) {
          let absMax = 0;
          let error = 0;
          for (let i = b; i < b + 32; i++) {
            absMax = Math.max(absMax, Math.abs(weights[i]!));
            error = Math.max(error, Math.abs(decoded[i]! - weights[i]!));
          }
          if (absMax > 0) worst = Math.max(worst, error / absMax);
        }
        expect(worst, name).toBeLessThanOrEqual(errorPerAbsMax);
        tensors++;
      }
      expect(tensors).toBeGreaterThanOrEqual(9);
    },
  );
});
