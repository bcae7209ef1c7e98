import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dequantize } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { convertModel, openGgufWeightSource } from './index.js';

const q4 = modelFile('synthetic/gqa-d128-q4_0.gguf');

describe.runIf(q4)('convertModel from a block-quantized GGUF', () => {
  it('writes the decoded values of every quantized tensor as F32', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'convert-quantized-'));
    try {
      const out = join(dir, 'f32.gguf');
      await convertModel(q4!, out, { type: 'f32' });
      const a = await openGgufWeightSource(q4!);
      const b = await openGgufWeightSource(out);
      try {
        expect(b.config).toEqual(a.config);
        for (const name of ['token_embd.weight', 'blk.1.ffn_down.weight', 'output.weight']) {
          const info = a.tensors.get(name)!;
          expect(info.dtype).toBe('q4_0');
          const elements = info.shape.reduce((x, y) => x * y, 1);
          expect(b.tensors.get(name)?.dtype).toBe('f32');
          expect(await b.read(name)).toEqual(dequantize('q4_0', (await a.read(name)) as Uint8Array, elements));
        }
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
