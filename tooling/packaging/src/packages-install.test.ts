import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findWorkspaceRoot, listPublishablePackages } from '@llm/layering';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBrowserBundles, formatBundleTable } from './bundle-check.js';
import { CHROMIUM_PATH } from '@llm/browser-harness';
import { packAndInstall, removePackedWorkspace } from './consumer-setup.js';
import type { PackedWorkspace } from './consumer-setup.js';
import { workspaceRanges } from './pack.js';
import { readmeExample } from './readme-example.js';

const root = findWorkspaceRoot(dirname(fileURLToPath(import.meta.url)));
const modelsDir = resolve(process.env['LLM_MODELS_DIR'] ?? join(root, '..', 'shared', 'models'));
const publishable = listPublishablePackages(root).map((p) => p.name);
const hasChromium = existsSync(CHROMIUM_PATH) || process.env['CI'] === 'true';

// One pack and one install for the whole file: each takes tens of seconds.
let workspace: PackedWorkspace;
beforeAll(() => {
  workspace = packAndInstall(root);
}, 600_000);
afterAll(() => {
  if (workspace) removePackedWorkspace(workspace);
});

function packedOf(name: string) {
  const packed = workspace.packed.find((p) => p.name === name);
  if (!packed) throw new Error(`${name} was not packed`);
  return packed;
}

describe.each(publishable)('%s as npm users install it', (name) => {
  it('has no workspace: range left in its packed package.json', () => {
    expect(workspaceRanges(packedOf(name).manifest)).toEqual([]);
  });

  it('ships every published entry point with declarations, source maps and their sources', () => {
    const { manifest, files } = packedOf(name);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
    const entries = Object.values(manifest.exports as Record<string, Record<string, string>>);
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      for (const target of [entry['types'], entry['import']]) {
        expect(files).toContain(target?.replace(/^\.\//, ''));
      }
      const map = `${entry['import']!.replace(/^\.\//, '')}.map`;
      expect(files).toContain(map);
      // Source maps point at ../src/*.ts, which must be in the tarball to resolve.
      const installed = join(workspace.projectDir, 'node_modules', name);
      const { sources } = JSON.parse(readFileSync(join(installed, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        expect(existsSync(resolve(dirname(join(installed, map)), source)), source).toBe(true);
      }
    }
    expect(files.filter((f) => f.endsWith('.test.ts'))).toEqual([]);
  });

  it("runs its README's example with plain node", () => {
    const readme = readFileSync(join(workspace.projectDir, 'node_modules', name, 'README.md'), 'utf8');
    const example = readmeExample(readme);
    expect(example, `${name}'s README has no \`\`\`js block under "## Example"`).toBeDefined();
    const file = join(workspace.projectDir, `example-${name.replace(/\W/g, '-')}.mjs`);
    writeFileSync(file, example!);
    const stdout = execFileSync(process.execPath, [file], {
      cwd: workspace.projectDir,
      env: { ...process.env, LLM_MODELS_DIR: modelsDir },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 120_000,
    });
    expect(stdout.trim()).not.toBe('');
  });
});

describe('webgpu as an optional peer of @llm/kernels', () => {
  it('without it, GpuContext.create() in Node refuses with a typed error naming the package', () => {
    const installed = join(workspace.projectDir, 'node_modules', 'webgpu');
    const hidden = `${installed}.hidden`;
    const file = join(workspace.projectDir, 'no-webgpu.mjs');
    writeFileSync(
      file,
      "import { GpuContext } from '@llm/kernels';\n" +
        'try { await GpuContext.create(); console.log("created"); }\n' +
        'catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }\n',
    );
    renameSync(installed, hidden);
    try {
      const stdout = execFileSync(process.execPath, [file], { cwd: workspace.projectDir, encoding: 'utf8' });
      const error = JSON.parse(stdout) as { name: string; code: string; message: string };
      expect(error).toMatchObject({ name: 'GpuUnavailableError', code: 'unavailable' });
      expect(error.message).toMatch(/`webgpu` package .* is not installed: run `npm install webgpu`/);
    } finally {
      renameSync(hidden, installed);
    }
  });
});

describe('published types', () => {
  it('compile for a strict consumer without skipLibCheck', () => {
    const imports = workspace.packed.flatMap((p) =>
      Object.keys(p.manifest.exports as Record<string, unknown>).map((key) =>
        key === '.' ? p.name : `${p.name}/${key.slice(2)}`,
      ),
    );
    writeFileSync(
      join(workspace.projectDir, 'consumer.ts'),
      imports.map((spec, i) => `import * as m${i} from '${spec}';\n`).join('') +
        `export const modules = [${imports.map((_, i) => `m${i}`).join(', ')}];\n`,
    );
    writeFileSync(
      join(workspace.projectDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          verbatimModuleSyntax: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = (() => {
      try {
        return execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
          cwd: workspace.projectDir,
          encoding: 'utf8',
        });
      } catch (error) {
        return (error as { stdout: string }).stdout;
      }
    })();
    expect(result).toBe('');
  });
});

describe.skipIf(!hasChromium)('browser bundles', () => {
  it('import no Node built-ins, leave webgpu out and load in Chromium', async () => {
    const { bundles, problems } = await checkBrowserBundles(workspace.projectDir, publishable);
    process.stdout.write(`${formatBundleTable(bundles)}\n`);
    expect(problems).toEqual([]);
  });
});
