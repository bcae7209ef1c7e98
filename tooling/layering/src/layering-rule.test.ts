import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { plugin } from './index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'workspace');

const eslint = new ESLint({
  cwd: fixtures,
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser },
      plugins: { llm: plugin },
      rules: { 'llm/layering': 'error' },
    },
  ],
});

async function messagesOf(file: string): Promise<string[]> {
  const [result] = await eslint.lintFiles([join(fixtures, file)]);
  return result!.messages.map((m) => m.message);
}

describe('llm/layering', () => {
  it('passes imports of declared lower-layer packages, own relative files and node built-ins', async () => {
    expect(await messagesOf('packages/model/src/index.ts')).toEqual([]);
    expect(await messagesOf('packages/model/src/local.ts')).toEqual([]);
  });

  it('refuses an import of a higher layer, naming both layers', async () => {
    expect(await messagesOf('packages/kernels/src/upward.ts')).toEqual([
      '@llm/kernels (layer 1) must not import @llm/model (layer 3): a package imports only lower layers (tooling/layering/src/layers.js)',
    ]);
  });

  it('refuses an import between two packages of the same layer that the table does not allow', async () => {
    expect(await messagesOf('packages/kvcache/src/index.ts')).toEqual([
      '@llm/kvcache and @llm/kernels are both layer 1: an import between them needs an entry in SAME_LAYER_IMPORTS (tooling/layering/src/layers.js)',
    ]);
  });

  it("refuses another package's src/ and subpaths missing from its exports", async () => {
    expect(await messagesOf('packages/model/src/internals.ts')).toEqual([
      "'@llm/kernels/src/index.js' reaches into @llm/kernels's internals: import an entry point in its package.json exports (.)",
      "'@llm/kernels/testing' reaches into @llm/kernels's internals: import an entry point in its package.json exports (.)",
    ]);
  });

  it("refuses a relative path into another package's folder", async () => {
    expect(await messagesOf('packages/model/src/relative.ts')).toEqual([
      "'../../kernels/src/index.js' reaches into the folder of @llm/kernels: import '@llm/kernels' or one of its exported entry points instead",
    ]);
  });

  it('refuses a package missing from the package.json dependencies, dynamic imports included', async () => {
    expect(await messagesOf('packages/model/src/undeclared.ts')).toEqual([
      "@llm/kvcache is not in @llm/model's dependencies, devDependencies or peerDependencies: add it to packages/model/package.json",
    ]);
  });

  it('refuses imports from a package that has no layer', async () => {
    expect(await messagesOf('packages/mystery/src/index.ts')).toEqual([
      '@llm/mystery has no layer: add it to PACKAGE_LAYERS in tooling/layering/src/layers.js',
    ]);
  });

  it("allows a same-layer import declared for tests in a test file only", async () => {
    expect(await messagesOf('packages/tokenizer/src/vocab.test.ts')).toEqual([]);
    expect(await messagesOf('packages/tokenizer/src/index.ts')).toEqual([
      '@llm/tokenizer and @llm/formats are both layer 1: an import between them needs an entry in SAME_LAYER_IMPORTS (tooling/layering/src/layers.js)',
    ]);
  });

  it('lets test files, and only test files, of a package import test tooling', async () => {
    expect(await messagesOf('packages/tokenizer/src/tool.ts')).toEqual([
      '@llm/tokenizer (layer 1) must not import @llm/probe: it is test/tool code, for test files only',
    ]);
  });

  it('lets tool code import any public package', async () => {
    expect(await messagesOf('tooling/probe/src/index.ts')).toEqual([]);
  });
});
