import type { CompiledGrammar, GrammarCompiler, GrammarMatcher, StructuralTag, TokenizerInfo } from '@mlc-ai/web-xgrammar';
import type { Tokenizer } from '@llm/tokenizer';
import { Ajv } from 'ajv';
import * as z from 'zod/mini';
import { EngineRequestError } from './errors.js';
import { numberRangeEbnf, type NumberBounds } from './number-range-grammar.js';
import { loadXGrammar, type XGrammar } from './xgrammar-module.js';

/**
 * What a constrained request's output must match. JSON comes out compact (no whitespace between
 * tokens of the structure: `{"a":1,"b":[true]}`), so every token the model spends is content.
 */
export const grammarSpecSchema = z.discriminatedUnion('type', [
  /** Any JSON object (OpenAI's `response_format: {type: "json_object"}`). */
  z.strictObject({ type: z.literal('json_object') }),
  /** JSON valid for a JSON Schema (an object, or `true`); properties it does not name are not generated. */
  z.strictObject({ type: z.literal('json_schema'), schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]) }),
  /** An EBNF grammar in XGrammar's dialect (`root ::= ...`, W3C XML notation, `#` comments). */
  z.strictObject({ type: z.literal('ebnf'), grammar: z.string().check(z.minLength(1)), rootRule: z.optional(z.string()) }),
  /** A regular expression the whole output matches. */
  z.strictObject({ type: z.literal('regex'), pattern: z.string().check(z.minLength(1)) }),
  /** An XGrammar structural tag (`{format: {type: 'tags_with_separator', ...}}`): tool calls. */
  z.strictObject({ type: z.literal('structural_tag'), format: z.record(z.string(), z.unknown()) }),
]);

export type GrammarSpec = z.output<typeof grammarSpecSchema>;

/** A grammar or JSON Schema that cannot be compiled; the message names the problem. */
export class GrammarError extends EngineRequestError {
  override readonly name = 'GrammarError';
}

/**
 * One sequence's place in its grammar: the tokens allowed next as a bitmask (ceil(vocab / 32) u32
 * words, a set bit allows the token), and the tokens generated so far.
 */
export class GrammarState {
  private disposed = false;

  constructor(private readonly matcher: GrammarMatcher) {}

  /** The allowed next tokens (the mask the sampler applies). */
  async nextTokenMask(): Promise<Uint32Array> {
    const mask = await this.matcher.getNextTokenBitmask();
    return new Uint32Array(mask.buffer, mask.byteOffset, mask.length);
  }

  /** Advances past a sampled token; false when the grammar does not allow it. */
  accept(tokenId: number): boolean {
    return this.matcher.acceptToken(tokenId);
  }

  /** The grammar is complete and a stop token was accepted. */
  get terminated(): boolean {
    return this.matcher.isTerminated();
  }

  /** Frees the matcher's WebAssembly memory. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.matcher.dispose();
  }
}

/**
 * XGrammar's compiler bound to one tokenizer, with every grammar compiled once. The vocabulary is
 * given to XGrammar as the tokenizer's raw pieces, with the encoding that turns them into bytes
 * (SentencePiece's `▁` and `<0xXX>` byte-fallback pieces, or GPT-2's byte-level alphabet); control
 * tokens (those that decode to nothing) are given as empty strings, which XGrammar never allows
 * except for the end-of-generation tokens it is told about.
 */
export class GrammarCache {
  private static readonly byTokenizer = new WeakMap<Tokenizer, Map<number, GrammarCache>>();
  /** In least recently used order, so that a server fed ever new schemas keeps only the latest. */
  private readonly compiled = new Map<string, { grammar: Promise<CompiledGrammar>; pins: number }>();
  private compiler: Promise<{ xg: XGrammar; compiler: GrammarCompiler; info: TokenizerInfo }> | undefined;

  private constructor(
    readonly tokenizer: Tokenizer,
    /** Logits per row: the model's vocabulary, which may be padded past the tokenizer's. */
    readonly vocabSize: number,
    /** Compiled grammars kept; past it the least recently used one is released. */
    readonly capacity: number,
  ) {}

  /**
   * The cache of a tokenizer (shared by every engine over it) for logits of `vocabSize` tokens;
   * `capacity` (compiled grammars kept, default 128) applies when this call creates it.
   */
  static for(tokenizer: Tokenizer, vocabSize: number, capacity = 128): GrammarCache {
    let bySize = GrammarCache.byTokenizer.get(tokenizer);
    if (!bySize) GrammarCache.byTokenizer.set(tokenizer, (bySize = new Map()));
    let cache = bySize.get(vocabSize);
    if (!cache) bySize.set(vocabSize, (cache = new GrammarCache(tokenizer, vocabSize, capacity)));
    return cache;
  }

  /** Compiled grammars held now. */
  get size(): number {
    return this.compiled.size;
  }

  /** Compiles `spec` (once while it stays cached; later calls share it). Throws GrammarError. */
  compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    return this.entry(spec, 0).grammar;
  }

  /** A fresh state at the start of `spec`'s grammar. */
  async start(spec: GrammarSpec): Promise<GrammarState> {
    // Pinned until the matcher exists: it keeps its own reference to the compiled grammar inside
    // XGrammar, so the cache may release the grammar afterwards, not before.
    const entry = this.entry(spec, 1);
    try {
      const compiled = await entry.grammar;
      const { xg } = await this.compilerOnce();
      return new GrammarState(await xg.GrammarMatcher.createGrammarMatcher(compiled));
    } finally {
      entry.pins--;
      this.evict();
    }
  }

  private entry(spec: GrammarSpec, pins: number): { grammar: Promise<CompiledGrammar>; pins: number } {
    const key = grammarKey(spec);
    let entry = this.compiled.get(key);
    if (entry) {
      this.compiled.delete(key);
    } else {
      const grammar = this.compileNow(spec);
      const created = (entry = { grammar, pins: 0 });
      // A failed compilation is not kept: the error reaches this caller, a retry compiles again.
      grammar.catch(() => {
        if (this.compiled.get(key) === created) this.compiled.delete(key);
      });
    }
    entry.pins += pins;
    this.compiled.set(key, entry);
    // The entry just used is the most recent: released last, and not while a caller still waits on it.
    this.evict(entry);
    return entry;
  }

  /** Releases the least recently used grammars past the capacity, except those being started. */
  private evict(keep?: object): void {
    for (const [key, entry] of this.compiled) {
      if (this.compiled.size <= this.capacity) return;
      if (entry.pins > 0 || entry === keep) continue;
      this.compiled.delete(key);
      // WebAssembly memory: freed only by dispose.
      entry.grammar.then((grammar) => grammar.dispose()).catch(() => {});
    }
  }

  private compilerOnce() {
    this.compiler ??= (async () => {
      // A failed load is not kept either: the next grammar tries again.
      const xg = await loadXGrammar();
      const { vocab, vocabType } = grammarVocabulary(this.tokenizer, this.vocabSize);
      const info = await xg.TokenizerInfo.createTokenizerInfo(
        vocab,
        vocabType,
        this.tokenizer.addSpacePrefix,
        this.vocabSize,
        [...this.tokenizer.eogIds],
      );
      return { xg, compiler: await xg.GrammarCompiler.createGrammarCompiler(info), info };
    })();
    this.compiler.catch(() => (this.compiler = undefined));
    return this.compiler;
  }

  private async compileNow(spec: GrammarSpec): Promise<CompiledGrammar> {
    const { compiler, xg } = await this.compilerOnce();
    // Compact JSON: no free whitespace, ',' and ':' without spaces (indent -1: one line).
    const compact: [boolean, number, [string, string]] = [false, -1, [',', ':']];
    try {
      switch (spec.type) {
        case 'json_object':
          // Not strict: an object schema without properties would otherwise allow only `{}`.
          return await compiler.compileJSONSchema('{"type":"object"}', ...compact, false);
        case 'json_schema':
          return await compiler.compileGrammar(await jsonSchemaEbnf(xg, spec.schema), 'root');
        case 'ebnf':
          return await compiler.compileGrammar(spec.grammar, spec.rootRule ?? 'root');
        case 'regex':
          return await compiler.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: spec.pattern } });
        case 'structural_tag': {
          const format = await compactJsonInside(xg, spec.format);
          return await compiler.compileStructuralTag({ type: 'structural_tag', format: format as StructuralTag['format'] });
        }
      }
    } catch (cause) {
      if (cause instanceof GrammarError) throw cause;
      // XGrammar's WebAssembly build reports every rejection as a bare abort, without its reason.
      throw new GrammarError(`${REJECTED[spec.type]} (${cause instanceof Error ? cause.message : String(cause)})`);
    }
  }
}

const REJECTED: Record<GrammarSpec['type'], string> = {
  json_object: 'the JSON grammar failed to compile',
  json_schema:
    'the JSON Schema is valid but cannot be turned into a grammar: check for contradictory bounds ' +
    '(minLength above maxLength, minimum above maximum, minItems above maxItems) and unsupported keywords',
  ebnf: "the EBNF grammar does not parse: write rules as `name ::= expression` with a rule named 'root' (or rootRule)",
  regex: 'the regular expression does not compile',
  structural_tag: 'the structural tag does not compile',
};

let ajv: Ajv | undefined;

/** A JSON Schema's own mistakes, named by a real validator before XGrammar (which only aborts) sees it. */
function checkJsonSchema(schema: Record<string, unknown> | boolean): void {
  ajv ??= new Ajv({ strict: false, validateFormats: false, allErrors: true });
  try {
    ajv.compile(schema);
  } catch (cause) {
    throw new GrammarError(`invalid JSON Schema: ${cause instanceof Error ? cause.message : String(cause)}`);
  } finally {
    if (typeof schema === 'object') ajv.removeSchema(schema);
  }
  const contradiction = contradictoryBounds(schema, '');
  if (contradiction) throw new GrammarError(`the JSON Schema allows no value: ${contradiction}`);
}

const BOUND_PAIRS = [
  ['minLength', 'maxLength'],
  ['minItems', 'maxItems'],
  ['minProperties', 'maxProperties'],
  ['minimum', 'maximum'],
] as const;

/** The first pair of bounds that excludes every value (`/properties/a: minLength 5 is above maxLength 2`), if any. */
function contradictoryBounds(node: unknown, path: string): string | undefined {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) {
      const found = contradictoryBounds(item, `${path}/${i}`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof node !== 'object' || node === null) return undefined;
  const record = node as Record<string, unknown>;
  for (const [low, high] of BOUND_PAIRS) {
    const lo = record[low];
    const hi = record[high];
    if (typeof lo === 'number' && typeof hi === 'number' && lo > hi) return `${path || '/'}: ${low} ${lo} is above ${high} ${hi}`;
  }
  for (const [key, value] of Object.entries(record)) {
    if (DATA_KEYWORDS.has(key)) continue;
    const found = contradictoryBounds(value, `${path}/${key}`);
    if (found) return found;
  }
  return undefined;
}

/**
 * A JSON Schema's grammar as EBNF, compact: XGrammar's conversion with bounded numbers replaced
 * (see number-range-grammar.ts). The schema is checked by a JSON Schema validator first.
 */
async function jsonSchemaEbnf(xg: XGrammar, jsonSchema: unknown): Promise<string> {
  if (typeof jsonSchema !== 'boolean' && (typeof jsonSchema !== 'object' || jsonSchema === null || Array.isArray(jsonSchema))) {
    throw new GrammarError('a JSON Schema is an object (or true / false)');
  }
  checkJsonSchema(jsonSchema as Record<string, unknown> | boolean);
  const { schema, numbers } = withBoundedNumbersMarked(jsonSchema as Record<string, unknown> | boolean);
  let ebnf = await xg.Testings._jsonSchemaToEBNF(JSON.stringify(schema), false, -1, [',', ':'], true);
  numbers.forEach((expression, i) => {
    ebnf = ebnf.split(JSON.stringify(JSON.stringify(numberMark(i)))).join(`llm_bounded_number_${i}`);
    ebnf += `\nllm_bounded_number_${i} ::= ${expression}`;
  });
  return ebnf;
}

/** A structural tag with each `json_schema` part replaced by its compact grammar. */
async function compactJsonInside(xg: XGrammar, node: unknown): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => compactJsonInside(xg, n)));
  if (typeof node !== 'object' || node === null) return node;
  const record = node as Record<string, unknown>;
  if (record['type'] === 'json_schema' && 'json_schema' in record) {
    return { type: 'grammar', grammar: await jsonSchemaEbnf(xg, record['json_schema']) };
  }
  const entries = await Promise.all(Object.entries(record).map(async ([k, v]) => [k, await compactJsonInside(xg, v)] as const));
  return Object.fromEntries(entries);
}

const BOUND_KEYWORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
// Values that are data, not subschemas: never rewritten.
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);

function numberMark(i: number): string {
  return `__llm_bounded_number_${i}__`;
}

/**
 * The schema with every `number` subschema that has bounds replaced by a `const` mark, and the
 * EBNF of each marked range (see number-range-grammar.ts for why).
 */
function withBoundedNumbersMarked(schema: Record<string, unknown> | boolean): { schema: unknown; numbers: string[] } {
  const numbers: string[] = [];
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (typeof node !== 'object' || node === null) return node;
    const record = node as Record<string, unknown>;
    if (record['type'] === 'number' && BOUND_KEYWORDS.some((k) => typeof record[k] === 'number')) {
      const bounds: NumberBounds = Object.fromEntries(BOUND_KEYWORDS.map((k) => [k, typeof record[k] === 'number' ? record[k] : undefined]));
      const expression = numberRangeEbnf(bounds);
      if (expression === undefined) throw new GrammarError(`a number's bounds (${JSON.stringify(bounds)}) leave no value with at most six decimals`);
      numbers.push(expression);
      return { const: numberMark(numbers.length - 1) };
    }
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, DATA_KEYWORDS.has(k) ? v : visit(v)]));
  };
  return { schema: visit(schema), numbers };
}

function grammarKey(spec: GrammarSpec): string {
  return JSON.stringify(spec);
}

/**
 * The vocabulary as XGrammar takes it: each id's raw piece, or '' for control tokens and ids past
 * the tokenizer (padding of the LM head), and how pieces encode bytes.
 */
export function grammarVocabulary(
  tokenizer: Tokenizer,
  vocabSize: number,
): { vocab: string[]; vocabType: 'byte_fallback' | 'byte_level' | 'raw' } {
  const vocab: string[] = [];
  let byteFallback = false;
  let byteLevel = false;
  for (let id = 0; id < vocabSize; id++) {
    const piece = id < tokenizer.vocabSize ? tokenizer.tokenText(id) : undefined;
    if (piece === undefined || tokenizer.decode([id], { stripLeadingSpace: false }) === '') {
      vocab.push('');
      continue;
    }
    if (/^<0x[0-9A-Fa-f]{2}>$/.test(piece)) byteFallback = true;
    else if (/[ĠĊ]/.test(piece)) byteLevel = true;
    vocab.push(piece);
  }
  return { vocab, vocabType: byteFallback ? 'byte_fallback' : byteLevel ? 'byte_level' : 'raw' };
}
