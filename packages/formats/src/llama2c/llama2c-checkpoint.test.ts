import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { Llama2cFormatError } from '../errors.js';
import { openGgufWeightSource } from '../node/index.js';
import { openLlama2cCheckpoint } from '../node/index.js';

const bin = modelFile('stories260K.bin');
const gguf = modelFile('stories260K.gguf');

describe.runIf(bin)('openLlama2cCheckpoint on stories260K.bin', () => {
  it('reads the header and maps it to a LlamaConfig', async () => {
    const ckpt = await openLlama2cCheckpoint(bin!);
    try {
      expect(ckpt.header).toEqual({
        dim: 64,
        hiddenDim: 172,
        numLayers: 5,
        numHeads: 8,
        numKvHeads: 4,
        vocabSize: 512,
        sharedClassifier: true,
        seqLen: 512,
      });
      expect(ckpt.config).toMatchObject({
        architecture: 'llama',
        headDim: 8,
        contextLength: 512,
        ropeLayout: 'adjacent',
        ropeTheta: 10000,
        rmsNormEps: 1e-5,
        tiedEmbeddings: true,
      });
      expect(ckpt.tensors.size).toBe(2 + 5 * 9);
      expect(ckpt.tensors.get('blk.4.ffn_down.weight')?.shape).toEqual([64, 172]);
    } finally {
      await ckpt.close();
    }
  });

  it.runIf(gguf)('holds the same weights, bit for bit, as stories260K.gguf', async () => {
    const ckpt = await openLlama2cCheckpoint(bin!);
    const source = await openGgufWeightSource(gguf!);
    try {
      const { contextLength: c1, tiedEmbeddings: t1, ...fromBin } = ckpt.config;
      const { contextLength: c2, tiedEmbeddings: t2, ...fromGguf } = source.config;
      expect(fromGguf).toEqual({ ...fromBin, rmsNormEps: Math.fround(1e-5) });
      expect([c1, c2, t1, t2]).toEqual([512, 2048, true, false]);
      for (const [name, info] of ckpt.tensors) {
        expect(source.tensors.get(name)?.shape, name).toEqual(info.shape);
        const a = new Uint32Array((await ckpt.read(name)).buffer);
        const b = new Uint32Array((await source.read(name)).buffer);
        expect(b.length, name).toBe(a.length);
        expect(
          b.every((x, i) => x === a[i]),
          name,
        ).toBe(true);
      }
      // The .gguf spells the shared classifier out as output.weight.
      const embedding = new Uint32Array((await ckpt.read('token_embd.weight')).buffer);
      const output = new Uint32Array((await source.read('output.weight')).buffer);
      expect(output.every((x, i) => x === embedding[i])).toBe(true);
    } finally {
      await ckpt.close();
      await source.close();
    }
  });

  it('refuses a file whose size does not match its header', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llama2c-'));
    const bytes = await readFile(bin!);
    const short = join(dir, 'short.bin');
    await writeFile(short, bytes.subarray(0, bytes.length - 4));
    await expect(openLlama2cCheckpoint(short)).rejects.toThrow(
      /has 1056536 bytes but its header .* implies 1056540/,
    );
    const unshared = join(dir, 'unshared.bin');
    const copy = new Uint8Array(bytes);
    new DataView(copy.buffer).setInt32(20, -512, true);
    await writeFile(unshared, copy);
    await expect(openLlama2cCheckpoint(unshared)).rejects.toThrow(Llama2cFormatError);
  });
});

describe('openLlama2cCheckpoint header checks', () => {
  async function withHeader(fields: number[], extraBytes = 0): Promise<unknown> {
    const dir = await mkdtemp(join(tmpdir(), 'llama2c-h-'));
    const path = join(dir, 'h.bin');
    const bytes = new Uint8Array(28 + extraBytes);
    const v = new DataView(bytes.buffer);
    fields.forEach((f, i) => v.setInt32(i * 4, f, true));
    await writeFile(path, bytes);
    return openLlama2cCheckpoint(path).then(
      async (c) => {
        await c.close();
        return c;
      },
      (e: unknown) => e,
    );
  }

  it('opens a minimal valid unshared checkpoint', async () => {
    // dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab -3 (unshared), seq 2
    const floats = 3 * 4 + 4 + 4 * 4 + 2 * 2 * 4 + 4 * 4 + 4 + 3 * 6 * 4 + 4 + 2 * 2 * 1 + 3 * 4;
    const c = await withHeader([4, 6, 1, 2, 1, -3, 2], floats * 4);
    expect(c).not.toBeInstanceOf(Error);
    expect((c as { config: { tiedEmbeddings: boolean } }).config.tiedEmbeddings).toBe(false);
  });

  it.each([
    ['zero dim', [0, 6, 1, 2, 1, 3, 2], /dim is 0/],
    ['negative layers', [4, 6, -1, 2, 1, 3, 2], /n_layers is -1/],
    ['more kv heads than heads', [4, 6, 1, 2, 4, 3, 2], /n_kv_heads is 4/],
    ['dim not divisible by heads', [6, 6, 1, 4, 1, 3, 2], /not a multiple of n_heads/],
    ['odd head dimension', [6, 6, 1, 2, 1, 3, 2], /odd/],
    ['export v1 magic', [0x616b3432, 1, 0, 0, 0, 0, 0], /ak42/],
  ])('refuses %s', async (_, fields, message) => {
    const e = await withHeader(fields);
    expect(e).toBeInstanceOf(Llama2cFormatError);
    expect((e as Error).message).toMatch(message);
  });

  it('refuses a file shorter than the header', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llama2c-s-'));
    const path = join(dir, 's.bin');
    await writeFile(path, new Uint8Array(10));
    await expect(openLlama2cCheckpoint(path)).rejects.toThrow(/only 10 bytes/);
  });
});
