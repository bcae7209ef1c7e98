import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { openGguf } from '../node/index.js';
import { writeGguf } from '../node/index.js';

const stories = modelFile('stories260K.gguf');
const q4 = modelFile('synthetic/gqa-d128-q4_0.gguf');

describe.runIf(stories)('openGguf on stories260K.gguf (written by llama.cpp)', () => {
  it('reads the header, metadata and tensor directory', async () => {
    const f = await openGguf(stories!);
    try {
      expect(f.version).toBe(3);
      expect(f.alignment).toBe(32);
      expect(f.getString('general.architecture')).toBe('llama');
      expect(f.getU32('llama.context_length')).toBe(2048);
      expect(f.getU32('llama.embedding_length')).toBe(64);
      expect(f.getU32('llama.attention.head_count_kv')).toBe(4);
      expect(f.getF32('llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-5, 10);
      const tokens = f.getStringArray('tokenizer.ggml.tokens');
      expect(tokens?.length).toBe(512);
      expect(tokens?.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
      expect(f.getFloat32Array('tokenizer.ggml.scores')?.length).toBe(512);
      expect(Array.from(f.getInt32Array('tokenizer.ggml.token_type')!.slice(0, 4))).toEqual([2, 3, 3, 6]);
      expect(f.tensors).toHaveLength(3 + 5 * 9);
      const q = f.tensor('blk.0.attn_k.weight')!;
      expect(q.ggmlType).toBe('F32');
      expect(q.dims).toEqual([64, 32]);
      expect(q.shape).toEqual([32, 64]);
      expect(q.byteLength).toBe(32 * 64 * 4);
      expect(q.offset % 32).toBe(0);
    } finally {
      await f.close();
    }
  });

  it('reads an F32 tensor as Float32Array', async () => {
    const f = await openGguf(stories!);
    try {
      const norm = await f.readTensor('output_norm.weight');
      expect(norm).toBeInstanceOf(Float32Array);
      expect(norm.length).toBe(64);
      expect(Array.from(norm).every(Number.isFinite)).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('throws a typed error for a wrongly typed getter', async () => {
    const f = await openGguf(stories!);
    try {
      expect(() => f.getU32('general.architecture')).toThrow(/general.architecture is a string/);
      expect(f.getString('no.such.key')).toBeUndefined();
    } finally {
      await f.close();
    }
  });
});

describe.runIf(q4)('quantized tensors', () => {
  it('are listed with their type and read as their blocks', async () => {
    const f = await openGguf(q4!);
    try {
      const t = f.tensor('blk.0.attn_q.weight')!;
      expect(t.ggmlType).toBe('Q4_0');
      expect(t.byteLength).toBe((128 * 128 * 18) / 32);
      const blocks = await f.readTensor('blk.0.attn_q.weight');
      expect(blocks).toBeInstanceOf(Uint8Array);
      expect(blocks).toEqual(await f.readTensorBytes('blk.0.attn_q.weight'));
      expect(blocks.length).toBe(t.byteLength);
    } finally {
      await f.close();
    }
  });
});

describe('files larger than 4 GiB', () => {
  it('reads a tensor that lies past 2^32 bytes (sparse file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gguf-large-'));
    const path = join(dir, 'large.gguf');
    try {
      const tail = Float32Array.from([1.25, -2.5, 3.75, 7]);
      await writeGguf(path, {
        metadata: {},
        tensors: [
          { name: 'big', dtype: 'f32', shape: [8], data: new Float32Array(8).fill(0.5) },
          { name: 'tail', dtype: 'f32', shape: [4], data: tail },
        ],
      });
      // Grow 'big' to 2^30 + 8 floats (just over 4 GiB) by patching its ne0 and the offset of
      // 'tail', then extend the file sparsely and put tail's data at its new place.
      const small = await openGguf(path);
      const dataOffset = small.dataOffset;
      await small.close();
      const bytes = new Uint8Array(await readFile(path));
      const view = new DataView(bytes.buffer);
      const bigElements = 2 ** 30 + 8;
      const tailRelative = bigElements * 4;
      const ne0At = 24 + 8 + 3 + 4; // after header, name length and "big", n_dims
      const tailOffsetAt = ne0At + 8 + 4 + 8 + 8 + 4 + 4 + 8 + 4; // big: ne0, type, offset; tail: name, n_dims, ne0, type
      expect(view.getBigUint64(ne0At, true)).toBe(8n);
      expect(view.getBigUint64(tailOffsetAt, true)).toBe(32n);
      view.setBigUint64(ne0At, BigInt(bigElements), true);
      view.setBigUint64(tailOffsetAt, BigInt(tailRelative), true);
      const handle = await open(path, 'r+');
      await handle.write(bytes.subarray(0, dataOffset), 0, dataOffset, 0);
      await handle.truncate(dataOffset + tailRelative + 32);
      await handle.write(new Uint8Array(tail.buffer), 0, 16, dataOffset + tailRelative);
      await handle.close();

      const f = await openGguf(path);
      try {
        expect(f.tensor('big')?.byteLength).toBe(bigElements * 4);
        expect(f.tensor('tail')?.offset).toBeGreaterThan(2 ** 32);
        expect(await f.readTensor('tail')).toEqual(tail);
      } finally {
        await f.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
