import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { Llama2cFormatError } from '../errors.js';
import { readLlama2cTokenizer } from '../node/index.js';

const tok512 = modelFile('tok512.bin');
const llama2 = modelFile('llama2/tokenizer.bin');

describe('readLlama2cTokenizer', () => {
  it.runIf(tok512)('reads tok512.bin: 512 tokens, byte tokens as <0xXX>', async () => {
    const t = await readLlama2cTokenizer(tok512!);
    expect(t.maxTokenLength).toBe(7);
    expect(t.tokens).toHaveLength(512);
    expect(t.scores).toHaveLength(512);
    expect(t.tokens[0]).toBe('<unk>');
    expect(t.tokens[3]).toBe('<0x00>');
    expect(t.tokens[258]).toBe('<0xFF>');
    expect(Math.max(...t.tokenBytes.map((b) => b.length))).toBeLessThanOrEqual(t.maxTokenLength);
  });

  it.runIf(llama2)('reads the Llama 2 tokenizer.bin with an exact vocabulary size', async () => {
    const t = await readLlama2cTokenizer(llama2!, { vocabSize: 32000 });
    expect(t.tokens).toHaveLength(32000);
    expect(t.tokens[259]).toBe('  ');
    expect(t.tokens[260]).toBe(' t');
  });

  it('rejects a truncated token with a typed error naming the offset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llama2c-tok-'));
    const path = join(dir, 'bad.bin');
    const bytes = new DataView(new ArrayBuffer(4 + 8 + 2));
    bytes.setInt32(0, 5, true);
    bytes.setFloat32(4, -1.5, true);
    bytes.setInt32(8, 4, true); // claims 4 bytes, file holds 2
    await writeFile(path, new Uint8Array(bytes.buffer));
    await expect(readLlama2cTokenizer(path)).rejects.toThrow(Llama2cFormatError);
    await expect(readLlama2cTokenizer(path)).rejects.toThrow(/byte length 4; 2 bytes are left \(at byte 8\)/);
  });

  it('rejects a file that ends before the requested vocabulary size', async () => {
    if (!tok512) return;
    await expect(readLlama2cTokenizer(tok512, { vocabSize: 513 })).rejects.toThrow(Llama2cFormatError);
  });
});
