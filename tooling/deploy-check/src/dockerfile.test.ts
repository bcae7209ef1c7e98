import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { copyPaths, envPairs, execForm, globalArgs, parseDockerfile, splitFlags } from './dockerfile.js';
import { dockerignoreMatcher } from './dockerignore.js';
import { findObject, loadManifests } from './manifests.js';
import { resolvePort } from './pod-spec.js';
import { DEPLOY_DIR, MANIFESTS_DIR, REPO_ROOT } from './repo-paths.js';
import { HEALTH_PATH, SERVER_PORT } from './server-contract.js';

const dockerfile = parseDockerfile(readFileSync(join(DEPLOY_DIR, 'Dockerfile'), 'utf8'));
const ignored = dockerignoreMatcher(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  packageManager: string;
  engines: { node: string };
};
const manifests = loadManifests(MANIFESTS_DIR);
const server = findObject<IDeployment>(manifests, 'Deployment', 'llm-serve');
const serverContainer = server.spec!.template.spec!.containers[0]!;

const stages = [...new Set(dockerfile.filter((i) => i.keyword === 'FROM').map((i) => i.stage))];
const finalStage = stages.at(-1)!;
/** The instructions that shape the final image: its stage and the stages it is built FROM. */
function lineage(stage: string): typeof dockerfile {
  const from = dockerfile.find((i) => i.keyword === 'FROM' && i.stage === stage)!;
  const parent = from.args.split(/\s+/)[0]!;
  const own = dockerfile.filter((i) => i.stage === stage);
  return stages.includes(parent) ? [...lineage(parent), ...own] : own;
}
const finalInstructions = lineage(finalStage);
const last = (keyword: string) => finalInstructions.filter((i) => i.keyword === keyword).at(-1);
const finalEnv = Object.fromEntries(
  finalInstructions.filter((i) => i.keyword === 'ENV').flatMap((i) => envPairs(i.args)),
);
const runs = (stage: string): string =>
  lineage(stage)
    .filter((i) => i.keyword === 'RUN')
    .map((i) => splitFlags(i.args).rest)
    .join('\n');

describe('deploy/Dockerfile', () => {
  it('parses into a build stage and a runtime stage on one pinned Debian 12 Node image', () => {
    expect(stages).toEqual(['base', 'build', 'runtime']);
    const image = globalArgs(dockerfile)['NODE_IMAGE']!;
    expect(image).toMatch(/^node:\d+\.\d+\.\d+-bookworm-slim$/);
    expect(dockerfile.find((i) => i.keyword === 'FROM')!.args).toBe('${NODE_IMAGE} AS base');
  });

  it("pins a Node release that package.json's engines accepts", () => {
    const [major, minor] = /^node:(\d+)\.(\d+)\./
      .exec(globalArgs(dockerfile)['NODE_IMAGE']!)!
      .slice(1)
      .map(Number);
    const [needMajor, needMinor] = /^>=(\d+)\.(\d+)\./.exec(rootPackage.engines.node)!.slice(1).map(Number);
    expect(major! > needMajor! || (major === needMajor && minor! >= needMinor!)).toBe(true);
  });

  it('copies only files that exist in the repository and that .dockerignore lets into the context', () => {
    const sources = dockerfile
      .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
      .map((i) => copyPaths(i.args))
      .filter((c) => c.flags['from'] === undefined)
      .flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
      if (source !== '.') expect(ignored(source), source).toBe(false);
    }
  });

  it('finds in the context every repository file its commands and entrypoint run', () => {
    const used = [
      'tooling/probe-adapter.mjs',
      'apps/server/src/cli.ts',
      'tooling/debian-mirror.sh',
      'pnpm-lock.yaml',
    ];
    const text = dockerfile.map((i) => i.args).join('\n');
    for (const path of used) {
      expect(text, path).toContain(path.split('/').at(-1)!);
      expect(existsSync(join(REPO_ROOT, path)), path).toBe(true);
      expect(ignored(path), path).toBe(false);
    }
    expect(ignored('node_modules')).toBe(true);
    expect(ignored('packages/model/node_modules/.bin/x')).toBe(true);
    expect(ignored('packages/model/dist/index.js')).toBe(true);
  });

  it("installs pnpm through corepack at package.json's packageManager version, then the locked dependencies", () => {
    expect(rootPackage.packageManager).toMatch(/^pnpm@\d+\.\d+\.\d+$/);
    const build = lineage('build');
    const copyManifest = build.findIndex(
      (i) => i.keyword === 'COPY' && copyPaths(i.args).sources.includes('package.json'),
    );
    const corepack = build.findIndex((i) => i.keyword === 'RUN' && /corepack install/.test(i.args));
    expect(copyManifest).toBeGreaterThanOrEqual(0);
    expect(corepack).toBeGreaterThan(copyManifest);
    // corepack reads the version from packageManager: nothing else may name one.
    for (const m of runs('build').matchAll(/pnpm@(\S+)/g))
      expect(`pnpm@${m[1]}`).toBe(rootPackage.packageManager);
    expect(runs('build')).toMatch(/pnpm install --frozen-lockfile/);
  });

  it("installs the Vulkan loader and Mesa's lavapipe from bookworm-backports, as tooling/setup.sh does", () => {
    const base = runs('base');
    expect(base).toMatch(/Suites: bookworm-backports/);
    expect(base).toMatch(/apt-get install [^\n;]*libvulkan1/);
    expect(base).toMatch(/apt-get install [^\n;]*-t bookworm-backports mesa-vulkan-drivers/);
    expect(readFileSync(join(REPO_ROOT, 'tooling/setup.sh'), 'utf8')).toMatch(
      /-t bookworm-backports mesa-vulkan-drivers/,
    );
  });

  it('exposes the port the Service and the InferencePool send requests to', () => {
    expect(last('EXPOSE')?.args).toBe(String(SERVER_PORT));
    const service = findObject<IService>(manifests, 'Service', 'llm-serve');
    const port = service.spec!.ports![0]!;
    expect(resolvePort(serverContainer, port.targetPort ?? port.port)?.containerPort).toBe(SERVER_PORT);
  });

  it('checks its health on /health of that port', () => {
    const { rest } = splitFlags(last('HEALTHCHECK')!.args);
    expect(rest).toMatch(/^CMD /);
    expect(rest).toContain(`:${SERVER_PORT}${HEALTH_PATH}`);
  });

  it('starts llm serve on all interfaces, under tini so that SIGTERM reaches node', () => {
    const entrypoint = execForm(last('ENTRYPOINT')!.args)!;
    expect(entrypoint.slice(0, 2)).toEqual(['tini', '--']);
    expect(entrypoint).toContain('serve');
    expect(entrypoint.slice(entrypoint.indexOf('--host'), entrypoint.indexOf('--host') + 2)).toEqual([
      '--host',
      '0.0.0.0',
    ]);
    expect(
      existsSync(
        join(
          REPO_ROOT,
          entrypoint.find((w) => w.endsWith('cli.ts'))!,
        ),
      ),
    ).toBe(true);
  });

  it('runs as a numeric non-root user, the one the Deployment runs as', () => {
    const user = last('USER')!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).not.toBe(0);
    expect(server.spec!.template.spec!.securityContext?.runAsUser).toBe(Number(user.split(':')[0]));
  });

  it('keeps the model cache in a volume at LLM_CACHE_DIR, the path the Deployment mounts', () => {
    expect(finalEnv['LLM_CACHE_DIR']).toBe('/models-cache');
    expect(last('VOLUME')?.args).toBe(finalEnv['LLM_CACHE_DIR']);
    expect(serverContainer.volumeMounts?.map((m) => m.mountPath)).toContain(finalEnv['LLM_CACHE_DIR']);
  });

  it('asks the NVIDIA container toolkit for the graphics capability, which mounts the Vulkan ICD', () => {
    expect(finalEnv['NVIDIA_DRIVER_CAPABILITIES']?.split(',')).toEqual(
      expect.arrayContaining(['compute', 'utility', 'graphics']),
    );
  });
});

describe('the Dockerfile and .dockerignore readers', () => {
  it('join continuation lines, skip comments inside them and name stages', () => {
    const parsed = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'FROM a:1 AS one',
        'RUN echo 1 \\',
        '  # note',
        '  && echo 2',
        'FROM one',
        'ENV A=1 B="x y"',
      ].join('\n'),
    );
    expect(parsed.map((i) => [i.keyword, i.args, i.stage])).toEqual([
      ['FROM', 'a:1 AS one', 'one'],
      ['RUN', 'echo 1 && echo 2', 'one'],
      ['FROM', 'one', '1'],
      ['ENV', 'A=1 B="x y"', '1'],
    ]);
    expect(envPairs(parsed[3]!.args)).toEqual([
      ['A', '1'],
      ['B', 'x y'],
    ]);
  });

  it('match **, folders and re-included paths', () => {
    const matcher = dockerignoreMatcher('**/dist\n.git\n*.log\n!keep.log\n');
    expect(matcher('dist/a.js')).toBe(true);
    expect(matcher('packages/x/dist/a.js')).toBe(true);
    expect(matcher('.git/HEAD')).toBe(true);
    expect(matcher('a.log')).toBe(true);
    expect(matcher('keep.log')).toBe(false);
    expect(matcher('packages/x/src/dist.ts')).toBe(false);
  });
});
