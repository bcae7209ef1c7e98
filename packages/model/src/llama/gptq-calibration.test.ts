import { modelFile } from '@llm/formats/testing';
import { dequantize, quantize } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { openModel } from '../node/index.js';
import { CpuModelRunner } from './cpu-runner.js';
import { gptqCalibrate } from './gptq-calibration.js';
import type { LinearInputs } from './linear-inputs.js';

const gguf = modelFile('stories260K.gguf');

// Two short sequences of real token ids (BOS first), as a tokenizer gives them.
const sequences = [
  [1, 403, 407, 261, 378, 275, 294, 300, 305, 330, 268, 420, 264, 290, 300, 281, 272, 266, 289, 319],
  [1, 438, 265, 284, 366, 266, 279, 340, 259, 322, 290, 303, 311, 270, 265, 271],
];
const chunks = sequences.map((tokens, i) => ({ tokens, startPos: 0, blockTable: i === 0 ? [0, 1] : [2] }));

/** ||W X - Q X||² over the tokens of X ([tokens, cols]), W and Q [rows, cols]. */
function outputError(w: Float32Array, q: Float32Array, x: Float32Array, cols: number): number {
  const rows = w.length / cols;
  const tokens = x.length / cols;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < tokens; t++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += (w[r * cols + c]! - q[r * cols + c]!) * x[t * cols + c]!;
      total += s * s;
    }
  }
  return total;
}

describe.skipIf(!gguf)('GPTQ calibration on stories260K', () => {
  it('hands the hook every linear layer, in forward order, with its inputs, and leaves the logits as they were', async () => {
    const model = await openModel(gguf!);
    try {
      const runner = await CpuModelRunner.load(model.source, { maxSeqs: 2 });
      const seen: { name: string; layer: number | undefined; cols: number; tokens: number; rows: number[] }[] = [];
      let inputsNonZero = true;
      await runner.captureLinearInputs(chunks, (site: LinearInputs) => {
        seen.push({
          name: site.weights.map((w) => w.name).join(' '),
          layer: site.layer,
          cols: site.cols,
          tokens: site.tokens,
          rows: site.weights.map((w) => w.rows),
        });
        inputsNonZero &&= site.inputs.some((v) => v !== 0);
      });
      expect(inputsNonZero).toBe(true);
      expect(seen).toHaveLength(4 * 5 + 1);
      expect(seen.slice(0, 4)).toEqual([
        { name: 'blk.0.attn_q.weight blk.0.attn_k.weight blk.0.attn_v.weight', layer: 0, cols: 64, tokens: 36, rows: [64, 32, 32] },
        { name: 'blk.0.attn_output.weight', layer: 0, cols: 64, tokens: 36, rows: [64] },
        { name: 'blk.0.ffn_gate.weight blk.0.ffn_up.weight', layer: 0, cols: 64, tokens: 36, rows: [172, 172] },
        { name: 'blk.0.ffn_down.weight', layer: 0, cols: 172, tokens: 36, rows: [64] },
      ]);
      expect(seen.at(-1)).toEqual({ name: 'output.weight', layer: undefined, cols: 64, tokens: 36, rows: [512] });
      const fresh = await CpuModelRunner.load(model.source, { maxSeqs: 2 });
      expect(await runner.logits(chunks)).toEqual(await fresh.logits(chunks));
    } finally {
      await model.source.close();
    }
  });

  it('quantizes each matrix of a GPTQ type from its inputs with a lower output error than round to nearest', async () => {
    const model = await openModel(gguf!);
    try {
      // The embedding kept f32, so that layer 0's inputs are the unquantized model's.
      const typeOf = (name: string, [, cols]: readonly [number, number]) =>
        name === 'token_embd.weight' ? 'f32' : name === 'output.weight' ? 'q8_0' : cols % 32 === 0 ? 'q4_0' : 'f16';
      const done: string[] = [];
      const written = await gptqCalibrate(model.source, sequences, {
        typeOf,
        onProgress: (n, total, tensor) => done.push(`${n}/${total} ${tensor}`),
      });
      expect(done).toHaveLength(36);
      expect(done[0]).toBe('1/36 blk.0.attn_q.weight');
      expect(done.at(-1)).toBe('36/36 output.weight');
      // ffn_down's rows of 172 are not whole blocks: rounded to f16, not written by GPTQ.
      expect([...written.keys()]).toHaveLength(31);
      expect(written.has('blk.3.ffn_down.weight')).toBe(false);
      expect(written.get('output.weight')).toMatchObject({ type: 'q8_0', tokens: 36 });

      const runner = await CpuModelRunner.load(model.source, { maxSeqs: 2 });
      let checked = 0;
      await runner.captureLinearInputs(chunks, (site) => {
        if (site.layer !== 0 || site.weights[0]!.name !== 'blk.0.attn_q.weight') return;
        for (const w of site.weights) {
          const gptq = dequantize('q4_0', written.get(w.name)!.data, w.values.length);
          const rtn = dequantize('q4_0', quantize('q4_0', w.values), w.values.length);
          expect(outputError(w.values, gptq, site.inputs, site.cols), w.name).toBeLessThan(
            outputError(w.values, rtn, site.inputs, site.cols),
          );
          checked++;
        }
      });
      expect(checked).toBe(3);
    } finally {
      await model.source.close();
    }
  });

  it('calibrates later layers on the quantized earlier ones, or with sequential: false on the original model', async () => {
    const model = await openModel(gguf!);
    try {
      const typeOf = (name: string) => (name === 'token_embd.weight' ? ('f32' as const) : ('q4_0' as const));
      const sequential = await gptqCalibrate(model.source, sequences, { typeOf });
      const original = await gptqCalibrate(model.source, sequences, { typeOf, sequential: false });
      // Layer 0's Q, K and V read the embedding in both; everything after reads different inputs.
      expect(original.get('blk.0.attn_q.weight')!.data).toEqual(sequential.get('blk.0.attn_q.weight')!.data);
      expect(original.get('blk.1.attn_q.weight')!.data).not.toEqual(sequential.get('blk.1.attn_q.weight')!.data);
      // Without the sequential order the pass changes nothing: a second run writes the same.
      const again = await gptqCalibrate(model.source, sequences, { typeOf, sequential: false });
      expect(again.get('output.weight')!.data).toEqual(original.get('output.weight')!.data);
    } finally {
      await model.source.close();
    }
  });

  it('refuses calibration without text, or past the model context', async () => {
    const model = await openModel(gguf!);
    try {
      const typeOf = () => 'q4_0' as const;
      await expect(gptqCalibrate(model.source, [], { typeOf })).rejects.toThrow(/needs calibration text/);
      await expect(
        gptqCalibrate(model.source, [Array.from({ length: 2049 }, (_, i) => 3 + (i % 500))], { typeOf }),
      ).rejects.toThrow(/2049 tokens is beyond the model's context of 2048/);
    } finally {
      await model.source.close();
    }
  });
});
