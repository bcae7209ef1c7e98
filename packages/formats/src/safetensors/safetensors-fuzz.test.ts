import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFileError } from '../errors.js';
import { openSafetensors } from '../node/index.js';
import { writeSafetensors } from '../node/index.js';

let dir: string;
let valid: Uint8Array;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-fuzz-'));
  const path = join(dir, 'valid.safetensors');
  await writeSafetensors(
    path,
    [
      {
        name: 'model.embed_tokens.weight',
        dtype: 'f32',
        shape: [4, 3],
        data: Float32Array.from({ length: 12 }, (_, i) => i - 5.5),
      },
      {
        name: 'model.norm.weight',
        dtype: 'bf16',
        shape: [3],
        data: new Uint16Array([0x3f80, 0x4000, 0xbf00]),
      },
      {
        name: 'lm_head.weight',
        dtype: 'f16',
        shape: [4, 3],
        data: Uint16Array.from({ length: 12 }, (_, i) => 0x3c00 + i),
      },
    ],
    { format: 'pt' },
  );
  valid = new Uint8Array(await readFile(path));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** Opens the bytes and reads every tensor: the only acceptable failure is a a ModelFileError. */
async function survives(bytes: Uint8Array): Promise<void> {
  const path = join(dir, `case-${counter++}.safetensors`);
  await writeFile(path, bytes);
  try {
    const file = await openSafetensors(path);
    try {
      for (const name of file.tensors.keys()) {
        await file.read(name).catch((error: unknown) => {
          if (!(error instanceof ModelFileError)) throw error;
        });
      }
    } finally {
      await file.close();
    }
  } catch (error) {
    expect(error).toBeInstanceOf(ModelFileError);
  } finally {
    await rm(path);
  }
}

function headerEnd(bytes: Uint8Array): number {
  return 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

describe('safetensors reader under corrupted input', () => {
  it('throws only a ModelFileError for random byte flips in the length and header', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        async (flips) => {
          const bytes = valid.slice();
          const end = headerEnd(valid);
          for (const [position, value] of flips) bytes[position % end] = value;
          await survives(bytes);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('throws only a ModelFileError for truncated files', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: valid.byteLength - 1 }), async (length) => {
        await survives(valid.subarray(0, length));
      }),
      { numRuns: 100 },
    );
  });

  it('throws only a ModelFileError for structurally random headers', async () => {
    const dtype = fc.oneof(
      fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', 'F4', 'F6_E2M3', 'BOOL'),
      fc.string(),
    );
    const dim = fc.oneof(fc.nat({ max: 6 }), fc.integer(), fc.double(), fc.constant(2 ** 60));
    const entry = fc.oneof(
      fc.record({
        dtype,
        shape: fc.array(dim, { maxLength: 4 }),
        data_offsets: fc.tuple(
          fc.oneof(fc.nat({ max: 64 }), fc.integer()),
          fc.oneof(fc.nat({ max: 64 }), fc.integer()),
        ),
      }),
      fc.jsonValue(),
    );
    const header = fc.dictionary(
      fc.oneof(fc.string(), fc.constant('__metadata__'), fc.constant('__proto__')),
      entry,
      {
        maxKeys: 5,
      },
    );
    await fc.assert(
      fc.asyncProperty(header, fc.nat({ max: 80 }), async (value, dataBytes) => {
        const json = new TextEncoder().encode(JSON.stringify(value));
        const bytes = new Uint8Array(8 + json.byteLength + dataBytes).fill(0x41);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(json.byteLength), true);
        bytes.set(json, 8);
        await survives(bytes);
      }),
      { numRuns: 150 },
    );
  });
});
