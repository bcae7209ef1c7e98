import { describe, expect, it } from 'vitest';
import { f32ArrayToF16 } from '@llm/quant';
import type { GpuContext } from '../runtime/gpu-context.js';
import type { StepRecorder } from '../runtime/step-recorder.js';
import { gpuForTests, poisonF32, poisonU32, randomFloats, seededRandom } from '../testing/index.js';
import { argmax } from './argmax.js';
import { embedding } from './embedding.js';
import { gatherRows } from './gather-rows.js';
import { kvWrite } from './kv-write.js';
import { uploadMatrix } from './matrix.js';
import { rmsNorm } from './rms-norm.js';
import { rope } from './rope.js';
import { packSamplingParams, sample } from './sample.js';

const gpu = await gpuForTests();

/**
 * Records a row kernel on the listed rows of a test's inputs (gathered into fresh buffers in that
 * order, outputs poisoned) and resolves to its output as [rows.length, cols] words.
 */
type RowRun = (rec: StepRecorder, rows: number[], upload: Upload) => Promise<Uint32Array>;
type Upload = (data: ArrayBufferView, label: string) => GPUBuffer;

const ROWS = 37;

/** Rows `rows` of `data` (rows of `cols` elements), in that order. */
function pick<T extends Float32Array | Uint32Array>(data: T, cols: number, rows: number[]): T {
  const out = new (data.constructor as new (n: number) => T)(rows.length * cols);
  rows.forEach((r, i) => out.set(data.subarray(r * cols, (r + 1) * cols), i * cols));
  return out;
}

/**
 * Runs every row alone, then batches of several compositions (all rows, reversed, a subset), all
 * in one step, and lists each batched row whose bits differ from that row's run alone.
 */
async function mismatches(ctx: GpuContext, run: RowRun): Promise<string[]> {
  const buffers: GPUBuffer[] = [];
  const upload: Upload = (data, label) => {
    const b = ctx.upload(data, label);
    buffers.push(b);
    return b;
  };
  const all = Array.from({ length: ROWS }, (_, r) => r);
  const rec = ctx.recorder();
  const alone = all.map((r) => run(rec, [r], upload));
  const batches = [all, [...all].reverse(), all.filter((r) => r % 3 !== 1)].map((rows) => ({
    rows,
    out: run(rec, rows, upload),
  }));
  rec.submit();
  const single = await Promise.all(alone);
  const found: string[] = [];
  for (const { rows, out } of batches) {
    const got = await out;
    const cols = got.length / rows.length;
    rows.forEach((r, i) => {
      const own = single[r]!;
      const at = got.subarray(i * cols, (i + 1) * cols).findIndex((bits, j) => bits !== own[j]);
      if (at >= 0) found.push(`batch of ${rows.length}: row ${r} at position ${i} differs at word ${at}`);
    });
  }
  for (const b of buffers) b.destroy();
  return found;
}

/** The first `count` words of a buffer, read in the step (uploads may be padded past the data). */
const words = (rec: StepRecorder, buffer: GPUBuffer, count: number) =>
  rec.read(buffer, 0, count * 4).then((x) => new Uint32Array(x));

describe.skipIf(!gpu)('row kernels give a row the same bits whatever else the batch holds', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it('rmsNorm', async () => {
    const rand = seededRandom(seed);
    const dim = 333;
    const x = randomFloats(rand, ROWS * dim, -3, 3);
    const weight = ctx.upload(randomFloats(rand, dim), 'weight');
    const run: RowRun = (rec, rows, upload) => {
      const out = upload(poisonF32(rows.length * dim), 'out');
      rmsNorm(rec, { x: upload(pick(x, dim, rows), 'x'), weight, out, rows: rows.length, dim, eps: 1e-5 });
      return words(rec, out, rows.length * dim);
    };
    expect(await mismatches(ctx, run), `seed ${seed}`).toEqual([]);
    weight.destroy();
  });

  it('embedding (f16 table in parts)', async () => {
    const rand = seededRandom(seed + 1);
    const [vocab, dim] = [103, 37];
    const table = uploadMatrix(ctx, f32ArrayToF16(randomFloats(rand, vocab * dim)), vocab, dim, 'f16', {
      maxPartBytes: 2048,
    });
    const ids = Uint32Array.from({ length: ROWS }, () => Math.floor(rand() * vocab));
    const run: RowRun = (rec, rows, upload) => {
      const out = upload(poisonF32(rows.length * dim), 'out');
      embedding(rec, { ids: upload(pick(ids, 1, rows), 'ids'), table, out, count: rows.length });
      return words(rec, out, rows.length * dim);
    };
    expect(await mismatches(ctx, run), `seed ${seed}`).toEqual([]);
    table.destroy();
  });

  it('rope (q and k inside fused QKV rows, Llama 3 factors)', async () => {
    const rand = seededRandom(seed + 2);
    const [numHeads, numKvHeads, headDim] = [4, 2, 32];
    const stride = (numHeads + 2 * numKvHeads) * headDim;
    const qkv = randomFloats(rand, ROWS * stride);
    const positions = Uint32Array.from({ length: ROWS }, () => Math.floor(rand() * 5000));
    const factors = ctx.upload(randomFloats(rand, headDim / 2, 1, 8), 'factors');
    const run: RowRun = (rec, rows, upload) => {
      const buffer = upload(pick(qkv, stride, rows), 'qkv');
      rope(rec, {
        q: buffer,
        k: buffer,
        positions: upload(pick(positions, 1, rows), 'positions'),
        tokens: rows.length,
        numHeads,
        numKvHeads,
        headDim,
        theta: 500000,
        layout: 'halfSplit',
        freqFactors: factors,
        qStride: stride,
        kStride: stride,
        kOffset: numHeads * headDim,
      });
      return words(rec, buffer, rows.length * stride);
    };
    expect(await mismatches(ctx, run), `seed ${seed}`).toEqual([]);
    factors.destroy();
  });

  it.each(['f32', 'f16'] as const)('kvWrite into a %s pool', async (kvDtype) => {
    const rand = seededRandom(seed + 3);
    const [numKvHeads, headDim, blockSize] = [3, 16, 8];
    const numBlocks = Math.ceil(ROWS / blockSize) + 2;
    const rowLen = numKvHeads * headDim;
    const k = randomFloats(rand, ROWS * rowLen, -3, 3);
    const v = randomFloats(rand, ROWS * rowLen, -3, 3);
    // Distinct slots in a shuffled order.
    const slots = Uint32Array.from({ length: numBlocks * blockSize }, (_, i) => i);
    for (let i = slots.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    // Words per (slot, KV head) row of the pool, and the pool's size in words.
    const rowWords = kvDtype === 'f16' ? headDim / 2 : headDim;
    const poolWords = numBlocks * blockSize * numKvHeads * rowWords;
    const run: RowRun = async (rec, rows, upload) => {
      const kCache = upload(poisonU32(poolWords), 'kCache');
      const vCache = upload(poisonU32(poolWords), 'vCache');
      kvWrite(rec, {
        k: upload(pick(k, rowLen, rows), 'k'),
        v: upload(pick(v, rowLen, rows), 'v'),
        slots: upload(pick(slots, 1, rows), 'slots'),
        kCache,
        vCache,
        kvDtype,
        tokens: rows.length,
        numKvHeads,
        headDim,
        numBlocks,
        blockSize,
      });
      const [kPool, vPool] = await Promise.all([
        words(rec, kCache, poolWords),
        words(rec, vCache, poolWords),
      ]);
      // Each token's K and V rows, from where its slot puts them.
      const out = new Uint32Array(rows.length * 2 * numKvHeads * rowWords);
      rows.forEach((r, i) => {
        const slot = slots[r]!;
        const block = Math.floor(slot / blockSize);
        for (let h = 0; h < numKvHeads; h++) {
          const at = ((block * numKvHeads + h) * blockSize + (slot % blockSize)) * rowWords;
          const o = (i * 2 * numKvHeads + h) * rowWords;
          out.set(kPool.subarray(at, at + rowWords), o);
          out.set(vPool.subarray(at, at + rowWords), o + numKvHeads * rowWords);
        }
      });
      return out;
    };
    expect(await mismatches(ctx, run), `seed ${seed}`).toEqual([]);
  });

  it('gatherRows', async () => {
    const rand = seededRandom(seed + 4);
    const [srcRows, dim] = [50, 29];
    const src = ctx.upload(randomFloats(rand, srcRows * dim), 'src');
    const picks = Uint32Array.from({ length: ROWS }, () => Math.floor(rand() * srcRows));
    const run: RowRun = (rec, rows, upload) => {
      const out = upload(poisonF32(rows.length * dim), 'out');
      gatherRows(rec, {
        src,
        rows: upload(pick(picks, 1, rows), 'rows'),
        out,
        srcRows,
        count: rows.length,
        dim,
      });
      return words(rec, out, rows.length * dim);
    };
    expect(await mismatches(ctx, run), `seed ${seed}`).toEqual([]);
    src.destroy();
  });

  it('argmax and sample (greedy and sampled rows mixed)', async () => {
    const rand = seededRandom(seed + 5);
    const vocab = 1003;
    const logits = randomFloats(rand, ROWS * vocab, -4, 4);
    const params = Array.from({ length: ROWS }, (_, r) => ({
      temperature: r % 2 === 0 ? 0 : 0.8,
      topP: 0.9,
      topK: r % 5 === 0 ? 40 : 0,
      minP: 0.01,
      u: rand(),
    }));
    const greedy: RowRun = (rec, rows, upload) => {
      const out = upload(poisonU32(rows.length), 'out');
      argmax(rec, { logits: upload(pick(logits, vocab, rows), 'logits'), out, rows: rows.length, vocab });
      return words(rec, out, rows.length);
    };
    const sampled: RowRun = (rec, rows, upload) => {
      const out = upload(poisonU32(rows.length), 'out');
      sample(rec, {
        logits: upload(pick(logits, vocab, rows), 'logits'),
        params: upload(packSamplingParams(rows.map((r) => params[r]!)), 'params'),
        out,
        rows: rows.length,
        vocab,
      });
      return words(rec, out, rows.length);
    };
    expect(await mismatches(ctx, greedy), `seed ${seed}`).toEqual([]);
    expect(await mismatches(ctx, sampled), `seed ${seed}`).toEqual([]);
  });
});
