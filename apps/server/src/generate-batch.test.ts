import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm, type LlmRun } from './run-llm.test-support.js';

const gguf = modelFile('stories260K.gguf');

/** What `generate --json` prints for one request, and each line of `generate --batch-file`. */
interface GenerateJson {
  backend: string;
  adapter: string;
  promptTokenIds: number[];
  tokenIds: number[];
  text: string;
  finishReason: string;
  seed: number;
  timings: { prefillMs: number; decodeMs: number; decodeTokensPerSecond: number };
}

type BatchLine = { prompt: string } | { promptIds: number[] };
type LineOptions = { maxTokens?: number; seed?: number };

function parseJsonLines(run: LlmRun): GenerateJson[] {
  expect(run.code, run.stderr).toBe(0);
  return run.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as GenerateJson);
}

/** Sequences per engine step, from the batch's summary line on stderr. */
function meanBatchOf(run: LlmRun): number {
  const match = /steps of ([\d.]+) sequences on average/.exec(run.stderr);
  expect(match, run.stderr).not.toBeNull();
  return Number(match![1]);
}

/** The single `generate --json` a batch line stands for, with the same flags. */
function singleArgs(line: BatchLine & LineOptions, flags: readonly string[]): string[] {
  return [
    'generate',
    '--model',
    gguf!,
    ...flags,
    '--json',
    ...('prompt' in line ? ['--prompt', line.prompt] : ['--prompt-ids', line.promptIds.join(',')]),
    ...(line.maxTokens === undefined ? [] : ['--max-tokens', String(line.maxTokens)]),
    ...(line.seed === undefined ? [] : ['--seed', String(line.seed)]),
  ];
}

/** Runs the singles two at a time: each process keeps lavapipe's threads busy on its own. */
async function runSingles(
  lines: readonly (BatchLine & LineOptions)[],
  flags: readonly string[],
): Promise<GenerateJson[]> {
  const results: GenerateJson[] = new Array(lines.length);
  let next = 0;
  const worker = async () => {
    while (next < lines.length) {
      const i = next++;
      results[i] = parseJsonLines(await runLlm(singleArgs(lines[i]!, flags)))[0]!;
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

describe.skipIf(!gguf)('llm generate --batch-file on stories260K', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-batch-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const writeBatch = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const jsonl = (lines: readonly object[]) => lines.map((line) => JSON.stringify(line)).join('\n') + '\n';

  it('gives every greedy line the tokens a single generate --json gives, in the file order', async () => {
    const ids = (n: number, from: number) => [
      1,
      ...Array.from({ length: n - 1 }, (_, i) => 3 + ((from + i * 7) % 500)),
    ];
    const lines: (BatchLine & LineOptions)[] = [
      { prompt: 'Once upon a time' },
      { promptIds: [1] },
      { prompt: 'The little dog ran to the park and saw a big red ball', maxTokens: 40 },
      { promptIds: ids(60, 11), maxTokens: 8 },
      { prompt: 'Lily' },
      { promptIds: ids(200, 5) },
      { prompt: 'Tom had a toy car. He liked to play with it every day.', maxTokens: 12 },
      { promptIds: [1, 403, 407, 261, 378], maxTokens: 30 },
      { prompt: 'One day' },
      // Past the context with the flag's 24 tokens: capped to what the context leaves, as alone.
      { promptIds: ids(2040, 3) },
    ];
    const flags = ['--temperature', '0', '--max-tokens', '24'];
    // A blank line between requests is skipped.
    const path = await writeBatch('greedy.jsonl', jsonl(lines.slice(0, 5)) + '\n' + jsonl(lines.slice(5)));
    const run = await runLlm(['generate', '--model', gguf!, '--batch-file', path, ...flags]);
    const batch = parseJsonLines(run);
    // The engine did batch them: its summary counts the sequences per step.
    expect(meanBatchOf(run)).toBeGreaterThan(2);
    const singles = await runSingles(lines, flags);
    expect(batch).toHaveLength(lines.length);
    for (const [i, single] of singles.entries()) {
      const line = batch[i]!;
      expect(line.promptTokenIds, `line ${i + 1}`).toEqual(single.promptTokenIds);
      expect(line.tokenIds, `line ${i + 1}`).toEqual(single.tokenIds);
      expect(line.text, `line ${i + 1}`).toBe(single.text);
      expect(line.finishReason, `line ${i + 1}`).toBe(single.finishReason);
      expect(line).toMatchObject({ backend: single.backend, adapter: single.adapter });
      expect(Object.keys(line).sort()).toEqual(Object.keys(single).sort());
    }
    expect(batch[3]!.tokenIds).toHaveLength(8);
    expect(batch[9]!.tokenIds).toHaveLength(8);
    // Prompts of text get the tokenizer's BOS, as --prompt does; ids are used verbatim.
    expect(batch[0]!.promptTokenIds[0]).toBe(1);
    expect(batch[1]!.promptTokenIds).toEqual([1]);
  }, 300_000);

  it('gives seeded sampled lines the tokens they get alone, at most --max-num-seqs per step; lines without a seed take --seed', async () => {
    const lines: (BatchLine & LineOptions)[] = [
      { prompt: 'Once upon a time', seed: 7 },
      { prompt: 'Once upon a time', seed: 8 },
      { promptIds: [1, 291, 376, 400, 428], seed: 1234, maxTokens: 48 },
      { prompt: 'The cat' },
      { prompt: 'A big tree', seed: 99 },
      { promptIds: [1], seed: 3 },
      { prompt: 'Sue went to the shop', seed: 4 },
      { promptIds: [1, 403], seed: 5 },
    ];
    const flags = ['--temperature', '0.9', '--max-tokens', '32', '--seed', '42'];
    const path = await writeBatch('sampled.jsonl', jsonl(lines));
    const run = await runLlm([
      'generate',
      '--model',
      gguf!,
      '--batch-file',
      path,
      ...flags,
      '--max-num-seqs',
      '3',
    ]);
    const batch = parseJsonLines(run);
    expect(meanBatchOf(run)).toBeGreaterThan(1);
    expect(meanBatchOf(run)).toBeLessThanOrEqual(3);
    expect(batch.map((line) => line.seed)).toEqual([7, 8, 1234, 42, 99, 3, 4, 5]);
    const checked = [2, 3];
    const singles = await runSingles(
      checked.map((i) => ({ ...lines[i]!, seed: batch[i]!.seed })),
      flags.slice(0, 4),
    );
    for (const [k, i] of checked.entries())
      expect(batch[i]!.tokenIds, `line ${i + 1}`).toEqual(singles[k]!.tokenIds);
    // Sampling did happen: the same prompt under two seeds went two ways.
    expect(batch[0]!.tokenIds).not.toEqual(batch[1]!.tokenIds);
  }, 300_000);

  describe('refuses a bad line before generating anything, naming it, with exit code 2', () => {
    const good = jsonl([{ prompt: 'Once upon a time' }, { promptIds: [1, 2, 3] }]);
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{"prompt": "Once"', /line 3: not JSON/],
      [
        'an unknown field',
        '{"prompt": "Once", "temperature": 0.5}',
        /line 3: .*Unrecognized key: "temperature"/,
      ],
      [
        'both prompt and promptIds',
        '{"prompt": "Once", "promptIds": [1]}',
        /line 3: give exactly one of "prompt"/,
      ],
      ['neither prompt nor promptIds', '{"maxTokens": 4}', /line 3: give exactly one of "prompt"/],
      ['a token id of the wrong type', '{"promptIds": [1, "2"]}', /line 3: promptIds\.1: /],
      ['a maxTokens of 0', '{"prompt": "Once", "maxTokens": 0}', /line 3: maxTokens: /],
      [
        'a token id outside the vocabulary',
        '{"promptIds": [1, 512]}',
        /line 3: prompt token id 512 is outside the vocabulary \(0\.\.511\)/,
      ],
      [
        'a prompt past the context',
        JSON.stringify({ promptIds: new Array(2100).fill(5) }),
        /line 3: the prompt has 2100 tokens but the model's context holds 2048/,
      ],
    ];
    for (const [what, bad, message] of cases) {
      it(what, async () => {
        const path = await writeBatch(`bad-${what.replaceAll(' ', '-')}.jsonl`, `${good}${bad}\n${good}`);
        const run = await runLlm(['generate', '--model', gguf!, '--batch-file', path, '--max-tokens', '4']);
        expect(run.code, run.stderr).toBe(2);
        expect(run.stdout).toBe('');
        const errors = run.stderr.split('\n').filter((l) => l.startsWith('llm '));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(message);
        expect(errors[0]).not.toMatch(/line [1245]:/);
        expect(run.stderr).not.toMatch(/generating/);
      });
    }

    it('an empty file', async () => {
      const path = await writeBatch('empty.jsonl', '\n\n');
      const run = await runLlm(['generate', '--model', gguf!, '--batch-file', path]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/holds no request/);
    });
  });

  it('prints the kernel profile of every step on stderr with --profile, the JSON lines unchanged', async () => {
    const path = await writeBatch(
      'profile.jsonl',
      '{"prompt": "Once upon"}\n{"promptIds": [1, 5, 9], "maxTokens": 6}\n',
    );
    const flags = ['--max-tokens', '8', '--temperature', '0'];
    const plain = parseJsonLines(
      await runLlm(['generate', '--model', gguf!, '--batch-file', path, ...flags]),
    );
    const run = await runLlm(['generate', '--model', gguf!, '--batch-file', path, ...flags, '--profile']);
    const profiled = parseJsonLines(run);
    expect(profiled.map((r) => r.tokenIds)).toEqual(plain.map((r) => r.tokenIds));
    const tokens = profiled.reduce((n, r) => n + r.tokenIds.length, 0);
    expect(run.stderr).toMatch(
      new RegExp(
        `\\[llm\\] batch \\(every step, per generated token\\): ${tokens} tokens, \\d+ steps?, [\\d.]+`,
      ),
    );
    expect(run.stderr).toMatch(/^ {2}matvec-\w+ +[\d.]+ +[\d.]+ +[\d.]+%$/m);
    expect(run.stderr).toMatch(/^ {2}total +[\d.]+ +[\d.]+ +100\.0%$/m);
  });

  it('refuses --batch-file beside --prompt or --prompt-ids, and --max-num-seqs without it', async () => {
    for (const extra of [
      ['--prompt', 'Hi'],
      ['--prompt-ids', '1,2'],
    ]) {
      const run = await runLlm(['generate', '--model', gguf!, '--batch-file', 'any.jsonl', ...extra]);
      expect(run.code, extra[0]).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`--batch-file .*drop ${extra[0]}`));
    }
    const run = await runLlm(['generate', '--model', gguf!, '--max-num-seqs', '4']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--max-num-seqs .*--batch-file/);
  });

  it('lists --batch-file and --max-num-seqs in generate --help', async () => {
    const run = await runLlm(['generate', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ {2}--batch-file F\.jsonl +generate every request of a JSONL file at once/m);
    expect(run.stdout).toMatch(/^ {2}--max-num-seqs N +.*\(>= 1; default: min\(32, requests\)\)$/m);
  });
});
