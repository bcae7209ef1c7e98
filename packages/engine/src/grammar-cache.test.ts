import { openModel } from '@llm/model/node';
import { modelFile } from '@llm/formats/testing';
import { describe, expect, it } from 'vitest';
import { GrammarCache, type GrammarSpec } from './grammar.js';

const gguf = modelFile('stories260K.gguf');

const schema = (maxLength: number): GrammarSpec => ({
  type: 'json_schema',
  schema: { type: 'object', properties: { name: { type: 'string', maxLength } }, required: ['name'] },
});

/** Walks a grammar to its end, always taking the highest allowed token: the text it accepted. */
async function walk(cache: GrammarCache, state: Awaited<ReturnType<GrammarCache['start']>>): Promise<string> {
  const ids: number[] = [];
  for (let step = 0; step < 64 && !state.terminated; step++) {
    const mask = await state.nextTokenMask();
    let chosen = -1;
    for (let id = cache.vocabSize - 1; id >= 0 && chosen < 0; id--) if ((mask[id >>> 5]! >>> (id & 31)) & 1) chosen = id;
    expect(chosen).toBeGreaterThanOrEqual(0);
    expect(state.accept(chosen)).toBe(true);
    if (!cache.tokenizer.eogIds.has(chosen)) ids.push(chosen);
  }
  return cache.tokenizer.decode(ids);
}

describe.skipIf(!gguf)('the compiled-grammar cache', () => {
  it('keeps at most its capacity, releasing the least recently used, and recompiles a released grammar', async () => {
    const model = await openModel(gguf!);
    try {
      const cache = GrammarCache.for(model.tokenizer, model.source.config.vocabSize, 2);
      const [a, b, c] = [schema(3), schema(4), schema(5)];
      const first = await cache.compile(a);
      await cache.compile(b);
      expect(await cache.compile(a)).toBe(first);
      await cache.compile(c);
      expect(cache.size).toBe(2);
      // a was used after b, so b went: a is still the same object, b compiles anew.
      expect(await cache.compile(a)).toBe(first);
      expect(cache.size).toBe(2);
      const text = await walk(cache, await cache.start(b));
      expect(JSON.parse(text)).toMatchObject({ name: expect.any(String) as unknown });
    } finally {
      await model.source.close();
    }
  });

  it('lets a sequence finish its grammar after the cache released it', async () => {
    const model = await openModel(gguf!);
    try {
      const cache = GrammarCache.for(model.tokenizer, model.source.config.vocabSize, 1);
      const state = await cache.start(schema(6));
      // Two other grammars push it out; the matcher keeps its own reference inside XGrammar.
      await cache.compile(schema(7));
      await cache.compile(schema(8));
      expect(cache.size).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const value = JSON.parse(await walk(cache, state)) as { name: string };
      expect(value.name.length).toBeLessThanOrEqual(6);
      state.dispose();
    } finally {
      await model.source.close();
    }
  });
});
