import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFile } from './testing/index.js';
import { describeModelFile } from './node/index.js';
import { ModelFileError } from './errors.js';
import { openGguf } from './node/index.js';
import { ggufValue } from './gguf/gguf-value.js';
import { ggufWeightSource } from './gguf/gguf-weight-source.js';
import { writeGguf } from './node/index.js';
import { openLlama2cCheckpoint } from './node/index.js';
import { readLlama2cTokenizer } from './node/index.js';
import { writeSyntheticLlamaGguf } from './node/index.js';

// Each corrupted file must be handled within this time: a hang is a failure, not a slow test.
const perFileMs = 5000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'format-fuzz-'));
});

type Mutation =
  | { kind: 'bytes'; at: number[]; values: number[] }
  | { kind: 'truncate'; length: number }
  | { kind: 'u64'; at: number; value: bigint }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: number[] };

/** Corruptions aimed at `region` bytes from the start (the header, where the structure is). */
function mutation(region: number): fc.Arbitrary<Mutation> {
  const offset = fc.nat({ max: region - 1 });
  const edgeU64 = fc.oneof(
    fc.constantFrom(0n, 1n, 0xffff_ffffn, 1n << 32n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  );
  const edgeU32 = fc.oneof(
    fc.constantFrom(0, 1, 4, 8, 9, 13, 30, 39, 64, 0x7fff_ffff, 0xffff_ffff),
    fc.nat(),
  );
  return fc.oneof(
    fc.record({
      kind: fc.constant('bytes' as const),
      at: fc.array(offset, { minLength: 1, maxLength: 8 }),
      values: fc.array(fc.nat({ max: 255 }), { minLength: 8, maxLength: 8 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), length: fc.nat({ max: region }) }),
    fc.record({ kind: fc.constant('u64' as const), at: offset, value: edgeU64 }),
    fc.record({ kind: fc.constant('u32' as const), at: offset, value: edgeU32 }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: offset,
      bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 16 }),
    }),
  );
}

function apply(base: Uint8Array, m: Mutation): Uint8Array {
  if (m.kind === 'truncate') return base.subarray(0, m.length);
  if (m.kind === 'insert') {
    const out = new Uint8Array(base.length + m.bytes.length);
    out.set(base.subarray(0, m.at));
    out.set(m.bytes, m.at);
    out.set(base.subarray(m.at), m.at + m.bytes.length);
    return out;
  }
  const out = base.slice();
  const v = new DataView(out.buffer);
  if (m.kind === 'bytes') m.at.forEach((at, i) => (out[at] = m.values[i] ?? 0));
  else if (m.kind === 'u64' && m.at + 8 <= out.length) v.setBigUint64(m.at, m.value, true);
  else if (m.kind === 'u32' && m.at + 4 <= out.length) v.setUint32(m.at, m.value, true);
  return out;
}

async function bounded<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${perFileMs} ms`)), perFileMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `read` on the file; it may succeed or throw a ModelFileError, nothing else. */
async function onlyTypedErrors(path: string, read: (path: string) => Promise<void>): Promise<void> {
  try {
    await bounded(read(path), path);
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
  }
}

async function readEverythingGguf(path: string): Promise<void> {
  const file = await openGguf(path);
  try {
    for (const t of file.tensors) {
      // Small tensors only: a corrupted shape may legally claim most of the file.
      if (t.byteLength <= 1 << 20)
        await file.readTensor(t.name).catch((e: unknown) => {
          if (!(e instanceof ModelFileError)) throw e;
        });
    }
    const getters: ((key: string) => unknown)[] = [
      (k) => file.getString(k),
      (k) => file.getU32(k),
      (k) => file.getNumber(k),
      (k) => file.getStringArray(k),
      (k) => file.getInt32Array(k),
      (k) => file.getFloat32Array(k),
    ];
    for (const key of file.metadata.keys()) {
      for (const get of getters) {
        try {
          get(key);
        } catch (e) {
          if (!(e instanceof ModelFileError)) throw e;
        }
      }
    }
    ggufWeightSource(file);
  } finally {
    await file.close();
  }
  await describeModelFile(path);
}

let counter = 0;
async function fuzz(base: Uint8Array, region: number, runs: number, read: (path: string) => Promise<void>) {
  await fc.assert(
    fc.asyncProperty(mutation(region), async (m) => {
      // A fresh name per case: truncating and rewriting one file makes ext4 flush it every time.
      const path = join(dir, `fuzz-${counter++}`);
      await writeFile(path, apply(base, m));
      await onlyTypedErrors(path, read);
      await rm(path);
    }),
    { numRuns: runs },
  );
}

describe('corrupted model files end in typed errors, never crashes or hangs', () => {
  it('GGUF from the writer: every value type, tensors of three dtypes', async () => {
    const path = join(dir, 'base.gguf');
    await writeGguf(path, {
      metadata: {
        'general.architecture': ggufValue.string('llama'),
        'llama.block_count': ggufValue.u32(1),
        'a.f32s': ggufValue.f32Array([1, 2, 3]),
        'a.strings': ggufValue.stringArray(['x', 'yy', 'zzz']),
        'a.nested': {
          type: 'array',
          itemType: 'array',
          value: [{ type: 'array', itemType: 'i32', value: Int32Array.from([1]) }],
        },
        'a.u64': ggufValue.u64(12n),
        'a.bool': ggufValue.bool(true),
      },
      tensors: [
        {
          name: 'a',
          dtype: 'f32',
          shape: [4, 3],
          data: Float32Array.from({ length: 12 }, (_, i) => i + 0.5),
        },
        { name: 'b', dtype: 'f16', shape: [5], data: Uint16Array.from([1, 2, 3, 4, 5]) },
        { name: 'c', dtype: 'bf16', shape: [2, 2], data: Uint16Array.from([9, 8, 7, 6]) },
      ],
    });
    const base = new Uint8Array(await readFile(path));
    await fuzz(base, base.length, 300, readEverythingGguf);
  });

  it('a synthetic Llama GGUF (tokenizer arrays and config mapping)', async () => {
    const path = join(dir, 'synthetic.gguf');
    await writeSyntheticLlamaGguf(path, {
      dim: 16,
      hiddenDim: 24,
      numHeads: 2,
      numKvHeads: 1,
      numLayers: 1,
      vocabSize: 300,
      progress: false,
    });
    const base = new Uint8Array(await readFile(path));
    const file = await openGguf(path);
    const headerBytes = file.dataOffset;
    await file.close();
    await fuzz(base, headerBytes, 200, readEverythingGguf);
  });

  it.runIf(modelFile('stories260K.gguf'))('stories260K.gguf, corrupted in its header region', async () => {
    const base = new Uint8Array(await readFile(modelFile('stories260K.gguf')!));
    await fuzz(base, 14176, 150, readEverythingGguf);
  });

  it.runIf(modelFile('stories260K.bin'))('stories260K.bin llama2.c checkpoints', async () => {
    const base = new Uint8Array(await readFile(modelFile('stories260K.bin')!));
    await fuzz(base, 64, 150, async (path) => {
      const ckpt = await openLlama2cCheckpoint(path);
      try {
        for (const name of ['token_embd.weight', 'output_norm.weight']) {
          expect((await ckpt.read(name)).length).toBe(ckpt.tensors.get(name)!.byteLength / 4);
        }
      } finally {
        await ckpt.close();
      }
    });
  });

  it.runIf(modelFile('tok512.bin'))('tok512.bin tokenizers', async () => {
    const base = new Uint8Array(await readFile(modelFile('tok512.bin')!));
    await fuzz(base, base.length, 200, async (path) => {
      const t = await readLlama2cTokenizer(path);
      expect(t.tokens.length).toBe(t.scores.length);
      await readLlama2cTokenizer(path, { vocabSize: 512 });
    });
  });
});
