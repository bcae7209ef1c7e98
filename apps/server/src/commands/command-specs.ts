import { GPU_DTYPES, GPU_KV_DTYPES, QUANT_MIXES, BLOCK_DTYPES } from '@llm/quant';
import type { CommandSpec } from './parse-options.js';

// Each command's options, declared once: the parser and the help text both read these.

const w8a8Spec = {
  type: 'string',
  arg: 'FILE',
  description: "run every layer's products in int8 weights and activations (W8A8, SmoothQuant factors calibrated at load on the first 512 tokens of the text in FILE; webgpu backend, f32/f16/bf16 weights): faster prefill on CPU adapters, a small loss of accuracy",
} as const;

const activationsOption = {
  type: 'choice',
  choices: ['f32', 'int8'],
  default: 'f32',
  description: "how Q4_0 and Q8_0 products take their input: int8 quantizes it per 32 values and sums integers, as llama.cpp's CPU backend does (webgpu backend on CPU adapters: about 1.2-1.4x the decode speed of f32, a small loss of accuracy; elsewhere f32)",
} as const;

const kvDtypeOption = {
  type: 'choice',
  choices: GPU_KV_DTYPES,
  default: 'f32',
  description: 'KV cache element type; f16 halves its memory, i8 (per-token, per-head scales) quarters it, i4 (scales per 32 values, keys Hadamard-rotated; head dim a power of two) takes about an eighth; attention computes in f32 either way',
} as const;

export const generateSpec = {
  name: 'generate',
  summary: 'Generates text from a prompt and streams it on stdout, ending with a newline; with --batch-file, many prompts at once as JSON lines.',
  options: {
    model: { type: 'string', arg: 'PATH|URL|OWNER/REPO[:QUANT]', required: true, description: 'GGUF file, llama2.c checkpoint or Hugging Face folder; or an http(s) URL or Hugging Face reference, downloaded into the cache' },
    tokenizer: { type: 'string', arg: 'PATH', description: 'llama2.c tokenizer.bin, tokenizer.json, GGUF file or Hugging Face folder', defaultText: "the model's own" },
    prompt: { type: 'string', arg: 'TEXT', description: "prompt text; gets BOS when the model's tokenizer adds it", defaultText: 'BOS alone' },
    'prompt-ids': { type: 'string', arg: '1,2,3', description: 'prompt token ids, used verbatim (instead of --prompt)' },
    'max-tokens': { type: 'integer', arg: 'N', default: 256, range: { min: 1 }, description: "tokens to generate, capped at what the model's context leaves" },
    temperature: { type: 'number', arg: 'T', default: 0.8, range: { min: 0 }, description: 'sampling temperature; 0 is greedy' },
    'top-p': { type: 'number', arg: 'P', default: 0.95, range: { min: 0, max: 1, minExclusive: true }, description: 'nucleus sampling: smallest set of tokens whose probability reaches P' },
    'top-k': { type: 'integer', arg: 'K', default: 40, range: { min: 0 }, description: 'sample among the K most likely tokens; 0 keeps all' },
    'min-p': { type: 'number', arg: 'P', default: 0.05, range: { min: 0, max: 1, maxExclusive: true }, description: "drop tokens below P times the top token's probability" },
    seed: { type: 'integer', arg: 'S', range: { min: 0 }, defaultText: 'random, printed with --json', description: 'random seed' },
    backend: { type: 'choice', choices: ['auto', 'webgpu', 'cpu'], default: 'auto', description: 'auto: WebGPU when an adapter exists, else the CPU with a warning' },
    'kv-dtype': kvDtypeOption,
    activations: activationsOption,
    w8a8: w8a8Spec,
    json: { type: 'boolean', description: 'end stdout with one JSON object: backend, adapter, token ids, text, finish reason, seed, timings' },
    profile: { type: 'boolean', description: 'time every kernel with timestamp queries (webgpu backend, adapter with timestamp-query) and print dispatches and GPU ms per token by kernel kind, prefill and decode apart, on stderr; --json adds them as "profile"; with --batch-file, every step together, per generated token, on stderr' },
    'batch-file': { type: 'string', arg: 'F.jsonl', description: 'generate every request of a JSONL file at once, continuously batched: one {"prompt": TEXT} or {"promptIds": [1,2,3]} per line, with optional "maxTokens" and "seed" overriding the flags; prints one --json line per request, in the file\'s order (implies --json; not with --prompt or --prompt-ids)' },
    'max-num-seqs': { type: 'integer', arg: 'N', range: { min: 1 }, defaultText: 'min(32, requests)', description: 'with --batch-file: most requests generated together in one step; the KV cache is sized to hold that many of the longest' },
    'json-schema': { type: 'string', arg: 'FILE', description: 'constrain the output to compact JSON valid for the JSON Schema in FILE (every request of --batch-file too)' },
    grammar: { type: 'string', arg: 'FILE', description: 'constrain the output to the EBNF grammar in FILE (XGrammar\'s dialect: root ::= ...; instead of --json-schema)' },
  },
  notes: [
    'With --json-schema or --grammar the end-of-generation token is allowed only where the output is complete; a reply cut by --max-tokens ends with finish reason "length". A schema or grammar that does not compile exits 2 naming the problem.',
    'With --batch-file every line is checked before anything is generated: a malformed line, an id outside the vocabulary or a prompt past the context exits 2 naming the line.',
    'A line without "seed" takes --seed, or a random seed of its own (printed in its JSON line).',
  ],
} as const satisfies CommandSpec;

export const tokenizeSpec = {
  name: 'tokenize',
  summary: 'Reads one JSON string per stdin line; writes one JSON array of token ids per line.',
  options: {
    model: { type: 'string', arg: 'PATH', description: 'model file whose tokenizer to use (a vocabulary-only GGUF file works)' },
    tokenizer: { type: 'string', arg: 'PATH', description: 'tokenizer file, instead of or beside --model' },
    'add-special': { type: 'boolean', description: 'add BOS/EOS as the tokenizer does (special-token text is never parsed)' },
  },
  notes: ['One of --model and --tokenizer is required.'],
} as const satisfies CommandSpec;

export const convertSpec = {
  name: 'convert',
  summary: 'Converts llama2.c or a Hugging Face folder to GGUF (OUT ending in .gguf), or GGUF / llama2.c to a Hugging Face folder.',
  positionals: ['IN', 'OUT'],
  options: {
    tokenizer: { type: 'string', arg: 'PATH', description: 'tokenizer file to include (a llama2.c checkpoint has none)' },
    type: { type: 'choice', choices: GPU_DTYPES, default: 'f32', description: 'element type of the written weights' },
  },
} as const satisfies CommandSpec;

export const quantizeSpec = {
  name: 'quantize',
  summary: "Quantizes an F32/F16/BF16 model (GGUF, llama2.c or Hugging Face folder) to a GGUF with one of llama.cpp's mixes (round to nearest, or GPTQ).",
  positionals: ['IN', 'OUT'],
  options: {
    type: { type: 'string', arg: QUANT_MIXES.join('|'), required: true, description: "llama.cpp's mix: the base type of the weight matrices, with more bits where llama-quantize gives them (q4_k is q4_k_m, q3_k is q3_k_m, q5_k is q5_k_m)" },
    tokenizer: { type: 'string', arg: 'PATH', description: 'tokenizer file to include (a llama2.c checkpoint has none)', defaultText: "the input's own" },
    'output-type': { type: 'string', arg: [...BLOCK_DTYPES, 'f16', 'f32'].join('|'), description: 'type of output.weight (and of a tied token_embd.weight)', defaultText: "the mix's (q6_k, or q8_0 when rows do not fit)" },
    'token-embedding-type': { type: 'string', arg: [...BLOCK_DTYPES, 'f16', 'f32'].join('|'), description: 'type of token_embd.weight', defaultText: "the mix's base type" },
    method: { type: 'choice', choices: ['rtn', 'gptq'], default: 'rtn', description: "rtn: ggml's reference quantizers; gptq: GPTQ over calibration text for the matrices of q4_0, q4_1, q5_0, q5_1, q8_0 and q4_k (the mix's other types round to nearest)" },
    calibration: { type: 'string', arg: 'FILE', description: 'with --method gptq: a text file to calibrate on, tokenized with BOS first', defaultText: 'text the model generates itself' },
    'calibration-tokens': { type: 'integer', arg: 'N', range: { min: 2 }, defaultText: '2048 generated; all of --calibration', description: 'with --method gptq: calibration tokens: generated at temperature 1 from BOS, or the first N of --calibration' },
    'calibration-context': { type: 'integer', arg: 'N', range: { min: 2 }, defaultText: "min(512, the model's context)", description: 'with --method gptq: the calibration text is cut into sequences of N tokens, each starting with BOS' },
    seed: { type: 'integer', arg: 'S', defaultText: '1000', range: { min: 0 }, description: 'with --method gptq: seed of the first generated calibration sample (sample k takes S + k); not kld\'s default 1, so kld scores text the quantizer has not seen' },
    'group-size': { type: 'integer', arg: 'G', range: { min: 0 }, defaultText: "the type's block: 32, 256 for q4_k", description: "with --method gptq: each block's scale (and min) is chosen when GPTQ reaches the first column of its group of G columns, from the weights as updated by then; a multiple of the type's block; 0: every scale from the original weights" },
    damp: { type: 'number', arg: 'F', defaultText: '0.01', range: { min: 0 }, description: "with --method gptq: F times the mean of the Hessian's diagonal is added to its diagonal" },
    'layer-inputs': { type: 'choice', choices: ['quantized', 'original'], default: 'quantized', description: "with --method gptq: calibrate each layer on the inputs the quantized layers before it produce (GPTQ's sequential order), or on the original model's (all layers from one unquantized pass)" },
    'batch-columns': { type: 'integer', arg: 'N', defaultText: '128', range: { min: 1 }, description: "with --method gptq: columns per lazy batch: GPTQ's error updates reach later columns once per batch" },
    backend: { type: 'choice', choices: ['auto', 'webgpu', 'cpu'], default: 'auto', description: 'with --method gptq: where the calibration text is generated (the calibration pass itself runs on the CPU)' },
    json: { type: 'boolean', description: 'print one JSON line on stdout: {type, method, tensors: [{name, type, shape}], bytes, bitsPerWeight}; with --method gptq each block-quantized matrix also names its method (rtn or gptq)' },
  },
  notes: [
    '1-D tensors (norms, biases) stay F32. A tensor whose rows are not whole blocks of its type falls back as llama.cpp does (Q4_K to Q5_0, Q6_K to Q8_0, ..., else F16), named on stderr.',
    'OUT is written beside itself under a temporary name and renamed when complete.',
    'GPTQ runs the calibration text through the model once on the CPU, layer by layer: each linear layer is quantized from the inputs the already quantized layers before it produce. The token embedding is rounded to nearest.',
  ],
} as const satisfies CommandSpec;

export const infoSpec = {
  name: 'info',
  summary: "Prints a model file's metadata and tensor table as JSON.",
  positionals: ['PATH'],
  options: {},
} as const satisfies CommandSpec;

export const serveSpec = {
  name: 'serve',
  summary: 'Serves a model over an OpenAI-compatible HTTP API (completions, chat, streaming, Prometheus metrics with vLLM\'s names).',
  options: {
    model: { type: 'string', arg: 'PATH|URL|OWNER/REPO[:QUANT]', required: true, description: 'GGUF file, llama2.c checkpoint or Hugging Face folder; or an http(s) URL or Hugging Face reference, downloaded into the cache' },
    tokenizer: { type: 'string', arg: 'PATH', description: 'llama2.c tokenizer.bin, tokenizer.json, GGUF file or Hugging Face folder', defaultText: "the model's own" },
    host: { type: 'string', arg: 'HOST', default: '127.0.0.1', description: 'address to listen on (0.0.0.0 for every interface)' },
    port: { type: 'integer', arg: 'N', default: 8000, range: { min: 0, max: 65535 }, description: 'port to listen on; 0 picks a free one (printed)' },
    'served-model-name': { type: 'string', arg: 'NAME', description: 'the model name clients send and /v1/models lists', defaultText: "the model file's name" },
    'api-key': { type: 'string', arg: 'KEY', description: 'require "Authorization: Bearer KEY" on /v1/*, /tokenize and /detokenize', defaultText: 'LLM_API_KEY from the environment, else none' },
    'allowed-origins': { type: 'string', arg: 'O1,O2', description: "browser origins allowed to call the API (CORS), or '*'", defaultText: 'none: requests from other origins are refused' },
    'max-num-seqs': { type: 'integer', arg: 'N', default: 32, range: { min: 1 }, description: 'most sequences decoded together in one step' },
    'max-num-batched-tokens': { type: 'integer', arg: 'N', default: 512, range: { min: 1 }, description: 'most tokens (decodes and prefill chunks) in one step' },
    'max-model-len': { type: 'integer', arg: 'N', range: { min: 1 }, defaultText: "the model's context", description: 'longest sequence (prompt and output) served' },
    'kv-memory': { type: 'string', arg: 'BYTES', description: 'memory for the KV cache: bytes, or with a unit (512MiB, 2GiB, 1.5GB)', defaultText: "what the adapter's buffer limit and half the free host memory allow, at most max-num-seqs full sequences" },
    'kv-dtype': kvDtypeOption,
    activations: activationsOption,
    w8a8: w8a8Spec,
    'max-queue': { type: 'integer', arg: 'N', default: 1024, range: { min: 1 }, description: 'requests allowed to wait for a slot; past it requests get 429' },
    'chat-template': { type: 'string', arg: 'FILE', description: 'Jinja chat template to use instead of the model\'s', defaultText: "the model's (GGUF tokenizer.chat_template or tokenizer_config.json), else the fallback template" },
    backend: { type: 'choice', choices: ['auto', 'webgpu', 'cpu'], default: 'auto', description: 'auto: WebGPU when an adapter exists, else the CPU with a warning' },
  },
  notes: [
    'GET /health answers 503 while the model loads and 200 once it serves; the KV cache size is printed at start.',
    'SIGTERM or SIGINT stops accepting requests, lets those in flight finish (at most 30 s) and exits 0.',
  ],
} as const satisfies CommandSpec;

const scoringOptions = {
  tokenizer: { type: 'string', arg: 'PATH', description: 'llama2.c tokenizer.bin, tokenizer.json, GGUF file or Hugging Face folder', defaultText: "the model's own" },
  'text-file': { type: 'string', arg: 'FILE', description: 'text to score, tokenized with BOS first as the model wants (instead of --generate)' },
  generate: { type: 'integer', arg: 'N', range: { min: 2 }, description: 'score N tokens the model generates itself at temperature 1 from BOS (instead of --text-file)' },
  seed: { type: 'integer', arg: 'S', default: 1, range: { min: 0 }, description: 'with --generate: seed of the first sample (sample k takes S + k)' },
  context: { type: 'integer', arg: 'N', range: { min: 4 }, defaultText: "min(512, the model's context)", description: 'window length: the text is cut into windows of N tokens, each scoring its second half' },
  backend: { type: 'choice', choices: ['auto', 'webgpu', 'cpu'], default: 'auto', description: 'auto: WebGPU when an adapter exists, else the CPU with a warning' },
  'kv-dtype': kvDtypeOption,
  activations: activationsOption,
  w8a8: w8a8Spec,
} as const;

export const pplSpec = {
  name: 'ppl',
  summary: "Perplexity of a model over a text file or its own generated text, as llama.cpp's llama-perplexity computes it.",
  options: {
    model: { type: 'string', arg: 'PATH|URL|OWNER/REPO[:QUANT]', required: true, description: 'GGUF file, llama2.c checkpoint or Hugging Face folder; or an http(s) URL or Hugging Face reference, downloaded into the cache' },
    ...scoringOptions,
    json: { type: 'boolean', description: 'print one JSON line on stdout: {perplexity, stderr, meanNll, tokens, windows, context, backend}' },
  },
  notes: [
    'One of --text-file and --generate is required. The text needs at least two windows (2 x --context tokens); windows are back to back and the remainder is not scored.',
    'Each window starts with BOS (when the model adds one) and scores its tokens n/2+1 .. n-1 from the logits of the positions before them: n - 1 - n/2 tokens per window.',
  ],
} as const satisfies CommandSpec;

export const kldSpec = {
  name: 'kld',
  summary: "KL divergence of a quantized model's token distributions from a base model's, top-1 agreement and both perplexities (llama-perplexity --kl-divergence).",
  options: {
    base: { type: 'string', arg: 'PATH|URL|OWNER/REPO[:QUANT]', required: true, description: 'the reference model (F32 or F16)' },
    quant: { type: 'string', arg: 'PATH|URL|OWNER/REPO[:QUANT]', required: true, description: 'the model compared with it; same vocabulary' },
    ...scoringOptions,
    generate: { ...scoringOptions.generate, description: 'score N tokens the base model generates itself at temperature 1 from BOS (instead of --text-file)' },
    'kv-dtype': { ...kvDtypeOption, description: "KV cache element type of --quant's runs (the base keeps f32): with the same file as --base it measures the KV cache's quantization alone" },
    activations: { ...activationsOption, description: "how --quant's Q4_0 and Q8_0 products take their input (the base keeps f32): int8 quantizes it per 32 values, as llama.cpp's CPU backend does; with the same file as --base it measures that alone" },
    w8a8: { ...w8a8Spec, description: "run --quant's products on int8 weights and activations (W8A8, SmoothQuant factors calibrated at load on the first 512 tokens of the text in FILE; the base stays as stored): with the same file as --base it measures W8A8 alone" },
    json: { type: 'boolean', description: 'print one JSON line on stdout: mean KLD and its stderr, median, p99, max, top-1 agreement, both perplexities and their ratio, tokens' },
  },
  notes: [
    'Both models score the same windows (as ppl does); per scored token KL(P_base || P_quant) over the full vocabulary, in f64.',
  ],
} as const satisfies CommandSpec;

export const commandSpecs: readonly CommandSpec[] = [
  generateSpec,
  serveSpec,
  tokenizeSpec,
  convertSpec,
  quantizeSpec,
  pplSpec,
  kldSpec,
  infoSpec,
];
