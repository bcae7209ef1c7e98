import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openPeer } from '@llm/llama-cpp-peer';
import { openGguf, writeSyntheticLlamaGguf } from '@llm/formats/node';
import { modelFile } from '@llm/formats/testing';
import { openTokenizer } from '@llm/model/node';
import { dequantize, f16ArrayToF32, f16BitsToF32, tensorQuantType, type QuantMixName } from '@llm/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm, type LlmRun } from './run-llm.test-support.js';

const gqaF32 = modelFile('synthetic/gqa-d128-f32.gguf');
const gqaQ8 = modelFile('synthetic/gqa-d128-q8_0.gguf');
const gqaQ4 = modelFile('synthetic/gqa-d128-q4_0.gguf');
const stories = modelFile('stories260K.gguf');
const storiesBin = modelFile('stories260K.bin');
const tok512 = modelFile('tok512.bin');

// What llama.cpp's own llama_model_quantize wrote for these models (packages/quant/scripts/llama-quant-mix-types.py).
interface MixFixture {
  models: Record<string, { tensors: Record<string, number[]>; mixes: Record<string, string[]> }>;
}
const llamaCppTypes = JSON.parse(
  await readFile(
    new URL('../../../packages/quant/src/fixtures/llama-quant-mix-types.json', import.meta.url),
    'utf8',
  ),
) as MixFixture;

interface QuantizeJson {
  type: string;
  tensors: { name: string; type: string; shape: number[] }[];
  bytes: number;
  bitsPerWeight: number;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llm-quantize-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function quantizeTo(
  input: string,
  mix: string,
  ...extra: string[]
): Promise<{ path: string; run: LlmRun; json: QuantizeJson }> {
  const path = join(dir, `${basename(input, '.gguf')}-${mix}${extra.join('').replace(/\W/g, '')}.gguf`);
  const run = await runLlm(['quantize', input, path, '--type', mix, '--json', ...extra]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  return { path, run, json: JSON.parse(run.stdout) as QuantizeJson };
}

async function tensorsOf(
  path: string,
): Promise<Map<string, { type: string; shape: number[]; bytes: Uint8Array }>> {
  const file = await openGguf(path);
  try {
    const out = new Map<string, { type: string; shape: number[]; bytes: Uint8Array }>();
    for (const t of file.tensors)
      out.set(t.name, { type: t.type.name, shape: [...t.shape], bytes: await file.readTensorBytes(t.name) });
    return out;
  } finally {
    await file.close();
  }
}

const f32Of = (bytes: Uint8Array) => new Float32Array(bytes.slice().buffer);

/**
 * The largest error dequantisation may show per element, from the block's stored scale d (an f16):
 * rounding to the nearest step gives d/2, the f16 rounding of d adds |q| * d * 2^-11 (|q| <= 127 for
 * q8_0, <= 8 for q4_0, <= 16 for q5_0), and q4_0/q5_0 clamp the far end of a block whose extreme is
 * on the other side, which costs up to one more step d/2 there.
 */
const errorBound: Record<string, (d: number) => number> = {
  q8_0: (d) => d * (0.5 + 127 / 2048),
  q4_0: (d) => d * (1 + 8 / 2048),
  q5_0: (d) => d * (1 + 16 / 2048),
};

/** Checks every tensor of `path` against its source `reference` within its type's bound; returns the worst error over d per type. */
async function expectWithinBounds(path: string, reference: string): Promise<Record<string, number>> {
  const [written, source] = await Promise.all([tensorsOf(path), tensorsOf(reference)]);
  const worst: Record<string, number> = {};
  for (const [name, t] of written) {
    const src = source.get(name)!;
    expect(src.type, name).toBe('f32');
    const x = f32Of(src.bytes);
    const n = x.length;
    if (t.type === 'f32') {
      expect(f32Of(t.bytes), name).toEqual(x);
      continue;
    }
    if (t.type === 'f16') {
      const y = f16ArrayToF32(new Uint16Array(t.bytes.slice().buffer));
      // Round to nearest f16: half a unit in the last place, 2^-11 relative, 2^-25 among subnormals.
      for (let i = 0; i < n; i++)
        expect(Math.abs(y[i]! - x[i]!), name).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11 + 2 ** -25);
      continue;
    }
    const bound = errorBound[t.type];
    expect(bound, `${name}: ${t.type} has no stated bound`).toBeDefined();
    const y = dequantize(t.type, t.bytes, n);
    const blockBytes = { q8_0: 34, q4_0: 18, q5_0: 22 }[t.type as 'q8_0']!;
    const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
    let nonZero = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(f16BitsToF32(view.getUint16(Math.floor(i / 32) * blockBytes, true)));
      const err = Math.abs(y[i]! - x[i]!);
      if (err > bound!(d) + 1e-12)
        expect.fail(
          `${name} [${i}] (${t.type}): |${y[i]} - ${x[i]}| = ${err} > bound ${bound!(d)} (d = ${d})`,
        );
      if (d > 0) worst[t.type] = Math.max(worst[t.type] ?? 0, err / d);
      if (y[i] !== 0) nonZero++;
    }
    expect(nonZero, name).toBeGreaterThan(n / 2);
  }
  return worst;
}

const cases = [
  {
    model: 'gqa-d128-f32.gguf',
    path: gqaF32,
    facts: { numLayers: 2, numHeads: 4, numKvHeads: 2, tiedEmbeddings: false },
  },
  {
    model: 'stories260K.gguf',
    path: stories,
    facts: { numLayers: 5, numHeads: 8, numKvHeads: 4, tiedEmbeddings: false },
  },
];

describe.skipIf(!gqaF32 || !stories)('llm quantize', () => {
  for (const { model, path: input, facts } of cases) {
    for (const mix of ['q8_0', 'q4_0', 'q4_k_m'] as const) {
      it(`${model} as ${mix}: reopens, every tensor has llama.cpp's type, dequantises within the format's bound, loads in llama.cpp`, async () => {
        const { path, run, json } = await quantizeTo(input!, mix);
        const written = await tensorsOf(path);
        const expected = llamaCppTypes.models[model]!;
        const names = Object.keys(expected.tensors);
        expect(new Set(written.keys())).toEqual(new Set(names));
        for (const [i, name] of names.entries()) {
          const t = written.get(name)!;
          expect(`${name}: ${t.type}`).toBe(`${name}: ${expected.mixes[mix]![i]}`);
          expect(t.shape, name).toEqual(expected.tensors[name]);
          const choice = tensorQuantType({ name, shape: t.shape }, mix as QuantMixName, facts);
          expect(choice.type === 'keep' ? 'f32' : choice.type, name).toBe(t.type);
          // Every tensor that fell back is named on stderr.
          if (choice.fallbackFrom !== undefined) expect(run.stderr).toContain(`fallback: ${name} `);
        }
        expect(json.type).toBe(mix);
        const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
        expect([...json.tensors].sort(byName)).toEqual(
          names
            .map((name) => ({ name, type: written.get(name)!.type, shape: written.get(name)!.shape }))
            .sort(byName),
        );
        expect(json.bytes).toBe((await stat(path)).size);
        expect(run.stderr).toMatch(/MiB -> [\d.]+ MiB, [\d.]+ bits per weight/);

        const file = await openGguf(path);
        expect(file.get('general.file_type')).toEqual({
          type: 'u32',
          value: { q8_0: 7, q4_0: 2, q4_k_m: 15 }[mix],
        });
        await file.close();

        const worst = await expectWithinBounds(path, input!);
        expect(Object.keys(worst).length).toBeGreaterThan(0);

        const peer = await openPeer(path, { contextSize: 128, threads: 1 });
        try {
          const ours = await openTokenizer(path);
          const text = 'Once upon a time, there was a little girl named Lily.';
          expect(peer.tokenize(text, { addSpecial: true })).toEqual(
            ours.encode(text, { addSpecial: true, parseSpecial: false }),
          );
          const tokens = await peer.greedy([peer.bosId!], 8);
          expect(tokens.length).toBeGreaterThan(0);
          for (const id of tokens) expect(id).toBeLessThan(peer.vocabSize);
        } finally {
          await peer.close();
        }
      });
    }
  }

  it.skipIf(!gqaQ8 || !gqaQ4)(
    'reproduces the Q8_0 and Q4_0 tensors of an independent writer byte for byte',
    async () => {
      const q8 = await tensorsOf((await quantizeTo(gqaF32!, 'q8_0')).path);
      const q8Reference = await tensorsOf(gqaQ8!);
      expect([...q8.keys()].sort()).toEqual([...q8Reference.keys()].sort());
      for (const [name, t] of q8Reference) {
        expect(q8.get(name)!.type, name).toBe(t.type);
        expect(Buffer.from(q8.get(name)!.bytes).equals(Buffer.from(t.bytes)), name).toBe(true);
      }

      // llama.cpp's Q4_0 mix stores output.weight as Q6_K, which falls back to Q8_0 for rows of 128; the
      // other writer keeps it Q4_0. Every other tensor matches, and with --output-type q4_0 all do.
      const q4Reference = await tensorsOf(gqaQ4!);
      const q4 = await tensorsOf((await quantizeTo(gqaF32!, 'q4_0')).path);
      const q4Same = await tensorsOf((await quantizeTo(gqaF32!, 'q4_0', '--output-type', 'q4_0')).path);
      for (const [name, t] of q4Reference) {
        expect(Buffer.from(q4Same.get(name)!.bytes).equals(Buffer.from(t.bytes)), name).toBe(true);
        if (name === 'output.weight') expect(q4.get(name)!.type).toBe('q8_0');
        else expect(Buffer.from(q4.get(name)!.bytes).equals(Buffer.from(t.bytes)), name).toBe(true);
      }
    },
  );

  it('quantizes with the K types where rows are whole 256-blocks, and llama.cpp loads the file', async () => {
    const source = join(dir, 'k256.gguf');
    await writeSyntheticLlamaGguf(source, {
      dim: 256,
      hiddenDim: 512,
      numLayers: 8,
      numHeads: 8,
      numKvHeads: 2,
      vocabSize: 512,
      contextLength: 256,
      seed: 3,
    });
    const facts = { numLayers: 8, numHeads: 8, numKvHeads: 2, tiedEmbeddings: false };
    for (const mix of ['q4_k_m', 'q3_k_s', 'q2_k'] as const) {
      const { path, run } = await quantizeTo(source, mix, '--token-embedding-type', 'q8_0');
      expect(run.stderr).not.toContain('fallback');
      const [written, src] = await Promise.all([tensorsOf(path), tensorsOf(source)]);
      const relativeRmse: Record<string, number> = {
        q6_k: 0.02,
        q5_k: 0.04,
        q4_k: 0.08,
        q3_k: 0.16,
        q2_k: 0.35,
        q8_0: 0.01,
      };
      for (const [name, t] of written) {
        const choice = tensorQuantType({ name, shape: t.shape }, mix, facts, { tokenEmbeddingType: 'q8_0' });
        expect(t.type, name).toBe(choice.type === 'keep' ? 'f32' : choice.type);
        if (t.type === 'f32') continue;
        // Reference quantizers without an importance matrix: relative RMS error per type.
        const x = f32Of(src.get(name)!.bytes);
        const y = dequantize(t.type, t.bytes, x.length);
        let se = 0;
        let ss = 0;
        for (let i = 0; i < x.length; i++) {
          se += (y[i]! - x[i]!) ** 2;
          ss += x[i]! ** 2;
        }
        expect(Math.sqrt(se / ss), `${mix} ${name} (${t.type})`).toBeLessThan(relativeRmse[t.type]!);
      }
      if (mix === 'q4_k_m') {
        expect(written.get('blk.0.attn_v.weight')!.type).toBe('q6_k');
        expect(written.get('blk.2.attn_v.weight')!.type).toBe('q4_k');
        expect(written.get('output.weight')!.type).toBe('q6_k');
      }
      const peer = await openPeer(path, { contextSize: 64, threads: 1 });
      try {
        expect((await peer.greedy([peer.bosId!], 4)).length).toBeGreaterThan(0);
      } finally {
        await peer.close();
      }
    }
  });

  it.skipIf(!storiesBin || !tok512)(
    'quantizes a llama2.c checkpoint: its tied embedding gets the output rule, as llama.cpp gives it',
    async () => {
      const { path } = await quantizeTo(storiesBin!, 'q4_0', '--tokenizer', tok512!);
      const ours = await tensorsOf(path);
      const fromGguf = await tensorsOf((await quantizeTo(stories!, 'q4_0')).path);
      // The checkpoint shares its classifier with the embedding: no output.weight, and token_embd.weight
      // takes output.weight's Q6_K, which falls back to Q8_0 for rows of 64.
      expect(ours.has('output.weight')).toBe(false);
      expect(ours.get('token_embd.weight')!.type).toBe('q8_0');
      expect(fromGguf.get('token_embd.weight')!.type).toBe('q4_0');
      for (const [name, t] of ours)
        if (name !== 'token_embd.weight') expect(t.type, name).toBe(fromGguf.get(name)!.type);
      const peer = await openPeer(path, { contextSize: 64, threads: 1 });
      try {
        expect((await peer.greedy([peer.bosId!], 4)).length).toBeGreaterThan(0);
      } finally {
        await peer.close();
      }
    },
  );
});

describe.skipIf(!gqaF32 || !gqaQ8)('llm quantize refuses bad input with one line and leaves no file', () => {
  async function expectRefusal(args: string[], pattern: RegExp, out?: string): Promise<void> {
    const run = await runLlm(['quantize', ...args]);
    expect(run.code, run.stderr).toBe(2);
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^llm quantize: /);
    expect(lines[0]).toMatch(pattern);
    expect(run.stdout).toBe('');
    if (out !== undefined) {
      await expect(stat(out)).rejects.toThrow();
      const leftovers = (await readdir(join(out, '..')).catch(() => [])).filter((f) =>
        f.startsWith(basename(out)),
      );
      expect(leftovers).toEqual([]);
    }
  }

  it('an unknown type', async () => {
    const out = join(dir, 'unknown.gguf');
    await expectRefusal([gqaF32!, out, '--type', 'q7_k'], /unknown quantization type 'q7_k'/, out);
    await expectRefusal(
      [gqaF32!, out, '--type', 'q4_k_m', '--output-type', 'q9'],
      /--output-type must be one of .*got 'q9'/,
      out,
    );
  });

  it('an already quantized input, naming the tensor and its type', async () => {
    const out = join(dir, 'requantized.gguf');
    await expectRefusal([gqaQ8!, out, '--type', 'q4_0'], /token_embd\.weight.*Q8_0/i, out);
  });

  it('OUT equal to IN, and OUT that is not a .gguf path', async () => {
    await expectRefusal([gqaF32!, gqaF32!, '--type', 'q8_0'], /OUT is IN/);
    expect((await stat(gqaF32!)).size).toBeGreaterThan(0);
    await expectRefusal([gqaF32!, join(dir, 'folder'), '--type', 'q8_0'], /ending in \.gguf/);
  });

  it('an OUT that cannot be written', async () => {
    const missing = join(dir, 'no-such-folder', 'out.gguf');
    await expectRefusal([gqaF32!, missing, '--type', 'q8_0'], /cannot write .*no folder/, missing);
    const locked = join(dir, 'locked');
    await mkdir(locked);
    await chmod(locked, 0o500);
    try {
      const out = join(locked, 'out.gguf');
      // root ignores directory permissions; the check is meaningful only for other users.
      if (process.getuid?.() !== 0)
        await expectRefusal([gqaF32!, out, '--type', 'q8_0'], /cannot write .*not writable/, out);
    } finally {
      await chmod(locked, 0o700);
    }
    const folderOut = join(dir, 'a-folder.gguf');
    await mkdir(folderOut);
    await expectRefusal([gqaF32!, folderOut, '--type', 'q8_0'], /it is a folder/);
  });

  it('a missing input', async () => {
    const out = join(dir, 'from-nothing.gguf');
    await expectRefusal([join(dir, 'nope.gguf'), out, '--type', 'q8_0'], /nope\.gguf/, out);
  });
});
