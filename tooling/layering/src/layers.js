// @ts-check

/**
 * The package layers of docs/architecture.md: a package may import packages of lower layers only.
 * Every package under packages/ must appear here; apps/* are layer 6 and tooling/* (with bench)
 * are test and tool code, which may import any package's public API.
 * @type {Readonly<Record<string, number>>}
 */
export const PACKAGE_LAYERS = {
  '@llm/quant': 0,
  '@llm/kernels': 1,
  '@llm/kvcache': 1,
  '@llm/formats': 1,
  '@llm/tokenizer': 1,
  '@llm/attention': 2,
  '@llm/scheduler': 2,
  '@llm/model': 3,
  '@llm/engine': 4,
  '@llm/server': 5,
};

export const APPS_LAYER = 6;

/** Names of test and tool packages outside tooling/ (bench becomes a workspace package). */
export const TOOL_PACKAGES = ['@llm/bench'];

/**
 * Imports between two packages of the same layer, as [importer, imported]. Each one couples
 * packages that are meant to be usable alone, so each needs a reason beside it.
 * @type {ReadonlyArray<readonly [string, string]>}
 */
export const SAME_LAYER_IMPORTS = [];

/**
 * Same-layer imports allowed in test files only, as [importer, imported], each with its reason.
 * @type {ReadonlyArray<readonly [string, string]>}
 */
export const SAME_LAYER_TEST_IMPORTS = [
  // The tokenizers' tests build them from real model files (GGUF metadata, llama2.c
  // tokenizer.bin), which @llm/formats reads; the shipped tokenizers take plain metadata.
  ['@llm/tokenizer', '@llm/formats'],
];
