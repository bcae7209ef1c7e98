import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { elementType } from './element-types.js';
import { BLOCK_DTYPES } from './dtype-sets.js';
import {
  QUANT_MIXES,
  quantMix,
  tensorQuantType,
  type QuantMixModel,
  type QuantMixName,
} from './quant-mix.js';

// What llama.cpp's own llama_model_quantize chose, per model and mix (scripts/llama-quant-mix-types.py
// runs the libllama.so node-llama-cpp ships and reads the written files back).
interface Fixture {
  models: Record<
    string,
    { model: QuantMixModel; tensors: Record<string, number[]>; mixes: Record<string, string[]> }
  >;
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/llama-quant-mix-types.json', import.meta.url), 'utf8'),
) as Fixture;

describe('tensorQuantType agrees with llama.cpp', () => {
  for (const [modelName, { model, tensors, mixes }] of Object.entries(fixture.models)) {
    for (const [mix, types] of Object.entries(mixes)) {
      it(`${modelName} as ${mix}: every tensor gets the type llama_model_quantize gave it`, () => {
        const ours = Object.entries(tensors).map(([name, shape]) => {
          const { type } = tensorQuantType({ name, shape }, mix as QuantMixName, model);
          // llama.cpp keeps unquantized tensors in the source's type: F32 in these files.
          return type === 'keep' ? 'f32' : type;
        });
        expect(Object.fromEntries(Object.keys(tensors).map((n, i) => [n, ours[i]]))).toEqual(
          Object.fromEntries(Object.keys(tensors).map((n, i) => [n, types[i]])),
        );
      });
    }
  }

  it('covers every canonical mix on a model where the K rules apply and one where they fall back', () => {
    const canonical = new Set(QUANT_MIXES.map((m) => quantMix(m).name));
    for (const model of ['k256-l16-gqa4', 'stories260K.gguf']) {
      expect(new Set(Object.keys(fixture.models[model]!.mixes))).toEqual(canonical);
    }
  });
});

describe('quantMix', () => {
  it("names llama.cpp's file types and resolves the _m aliases", () => {
    expect(quantMix('q4_k_m')).toEqual({ name: 'q4_k_m', fileType: 15, base: 'q4_k' });
    expect(quantMix('q4_k')).toEqual(quantMix('q4_k_m'));
    expect(quantMix('q8_0').fileType).toBe(7);
  });

  it('refuses an unknown mix with invalid_argument, listing the known ones', () => {
    expect(() => quantMix('q7_k')).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => quantMix('q7_k')).toThrow(/q7_k.*q4_k_m/);
  });
});

const names = [
  'token_embd.weight',
  'output.weight',
  'output_norm.weight',
  'rope_freqs.weight',
  ...[
    'attn_q',
    'attn_k',
    'attn_v',
    'attn_output',
    'ffn_gate',
    'ffn_up',
    'ffn_down',
    'attn_norm',
    'ffn_norm',
  ].map((t) => `${t}.weight`),
];
const arbitraryCase = fc
  .record({
    numLayers: fc.integer({ min: 1, max: 96 }),
    kvHeads: fc.integer({ min: 1, max: 8 }),
    group: fc.integer({ min: 1, max: 8 }),
    tiedEmbeddings: fc.boolean(),
    mix: fc.constantFrom(...QUANT_MIXES),
    name: fc.constantFrom(...names),
    layerFraction: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    rows: fc.integer({ min: 1, max: 4096 }),
    // Row lengths around the block sizes: multiples of 256, of 32, and neither.
    rowLength: fc.oneof(
      fc.integer({ min: 1, max: 64 }).map((n) => n * 256),
      fc.integer({ min: 1, max: 256 }).map((n) => n * 32),
      fc.integer({ min: 1, max: 20000 }),
    ),
    oneDimensional: fc.boolean(),
  })
  .map((c) => {
    const layer = Math.floor(c.layerFraction * c.numLayers);
    const global = ['token_embd.weight', 'output.weight', 'output_norm.weight', 'rope_freqs.weight'];
    const name = global.includes(c.name) ? c.name : `blk.${layer}.${c.name}`;
    const model: QuantMixModel = {
      numLayers: c.numLayers,
      numHeads: c.kvHeads * c.group,
      numKvHeads: c.kvHeads,
      tiedEmbeddings: c.tiedEmbeddings,
    };
    const shape =
      c.oneDimensional || c.name.includes('norm') || c.name.startsWith('rope')
        ? [c.rowLength]
        : [c.rows, c.rowLength];
    return { ...c, name, model, shape };
  });

describe('tensorQuantType properties', () => {
  it('picks a type whose blocks tile the rows; it falls back only when the asked type does not', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ name, shape, mix, model }) => {
        const choice = tensorQuantType({ name, shape }, mix, model);
        if (choice.type === 'keep') return;
        const rowLength = shape[shape.length - 1]!;
        expect(rowLength % elementType(choice.type).blockSize).toBe(0);
        if (choice.fallbackFrom !== undefined) {
          expect(rowLength % elementType(choice.fallbackFrom).blockSize).not.toBe(0);
          expect(choice.type).not.toBe(choice.fallbackFrom);
        }
        expect([...BLOCK_DTYPES, 'f16']).toContain(choice.type);
      }),
    );
  });

  it('quantizes exactly the 2-D weights: norms, rope factors and other 1-D tensors are kept', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ name, shape, mix, model, rows }) => {
        const kept = tensorQuantType({ name, shape }, mix, model).type === 'keep';
        const matrix = shape.length === 2 && rows > 1 && !name.includes('_norm');
        expect(kept).toBe(!matrix);
      }),
    );
  });

  it('is deterministic and gives legacy mixes their base type wherever it fits, output.weight aside', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ name, shape, mix, model }) => {
        const choice = tensorQuantType({ name, shape }, mix, model);
        expect(tensorQuantType({ name, shape }, mix, model)).toEqual(choice);
        const { base } = quantMix(mix);
        const output = name === 'output.weight' || (model.tiedEmbeddings && name === 'token_embd.weight');
        const rowLength = shape[shape.length - 1]!;
        if (choice.type !== 'keep' && !output && !base.endsWith('_k') && rowLength % 32 === 0) {
          expect(choice.type).toBe(base);
        }
      }),
    );
  });

  it('gives output.weight at least as many bits as the mix base (Q6_K or Q8_0 unless a fallback)', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ shape, mix, model }) => {
        const choice = tensorQuantType(
          { name: 'output.weight', shape: [8, shape[shape.length - 1]!] },
          mix,
          model,
        );
        if (choice.fallbackFrom === undefined) expect(['q6_k', 'q8_0']).toContain(choice.type);
      }),
    );
  });

  it('lets the overrides win for token_embd.weight and output.weight, with no fallback', () => {
    fc.assert(
      fc.property(
        arbitraryCase,
        fc.constantFrom(...BLOCK_DTYPES, 'f16' as const),
        ({ mix, model, rowLength }, type) => {
          const shape = [16, rowLength];
          expect(tensorQuantType({ name: 'output.weight', shape }, mix, model, { outputType: type })).toEqual(
            { type },
          );
          expect(
            tensorQuantType({ name: 'token_embd.weight', shape }, mix, model, { tokenEmbeddingType: type }),
          ).toEqual({ type });
        },
      ),
    );
  });

  it('gives Q4_K_M half of the attn_v and ffn_down layers Q6_K (use_more_bits) when rows fit', () => {
    const model = { numLayers: 32, numHeads: 32, numKvHeads: 8, tiedEmbeddings: false };
    const q6 = (t: string) =>
      Array.from(
        { length: 32 },
        (_, i) =>
          tensorQuantType({ name: `blk.${i}.${t}.weight`, shape: [4096, 4096] }, 'q4_k_m', model).type,
      )
        .map((type, i) => (type === 'q6_k' ? i : -1))
        .filter((i) => i >= 0);
    const expected = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    expect(q6('attn_v')).toEqual(expected);
    expect(q6('ffn_down')).toEqual(expected);
  });
});
