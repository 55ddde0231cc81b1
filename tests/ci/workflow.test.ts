// The GitHub workflow and .ci/run run the same thing: the same commands in the same order, the
// same packages from Debian, the same services (PostgreSQL with passwordless `postgres`, Redis) at
// the addresses the tests read, nothing allowed to skip; and on a tag the workflow publishes what
// `bun run release` writes.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import pkg from '../../package.json' with { type: 'json' };
import { executableName, releaseTargets } from '../../scripts/release.ts';
import { parseDockerfile } from '../deploy/dockerfile.ts';
import { repoRoot } from '../helpers/binary.ts';

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = {
  'runs-on': string;
  container?: string;
  if?: string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  services?: Record<string, { image: string; env?: Record<string, string>; options?: string }>;
  env?: Record<string, string>;
  steps: Step[];
};
type Workflow = { on: { push?: { branches?: string[]; tags?: string[] }; pull_request?: unknown }; jobs: Record<string, Job> };

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const workflow = parse(read('.github/workflows/ci.yml')) as Workflow;
const ciRun = read('.ci/run');
const testJob = workflow.jobs.test!;
const releaseJob = workflow.jobs.release!;

/**
 * The commands that do the work, one per line, without redirections or pipes: `npx …`, `node …`,
 * `ls …` and `./dist/…`. Service start-up, logging and bookkeeping are not among them.
 */
function commands(script: string): string[] {
  return script
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(npx|node|ls) |^\.\/dist\//.test(line))
    .map((line) => line.replace(/\s+(\d?>&?\d?\S*|\|).*$/, '').trim());
}
const runOf = (job: Job) => job.steps.flatMap((step) => (step.run ? [step.run] : [])).join('\n');

describe('the workflow and .ci/run', () => {
  test('happy: the test job runs the same commands as .ci/run, in the same order', () => {
    const expected = commands(ciRun);
    expect(expected).toEqual([
      'node --version',
      `npx -y bun@${pkg.devDependencies.bun} install --frozen-lockfile`,
      'npx bun test',
      'npx bun run typecheck',
      'npx bun run lint',
      'npx bun run build',
      'ls -lh dist/parley',
      './dist/parley --version',
    ]);
    expect(commands(runOf(testJob))).toEqual(expected);
  });

  test('happy: with the same environment: CI, nothing may skip, npx never asks', () => {
    for (const [name, value] of [...ciRun.matchAll(/export ((?:\w+=\S+\s*)+)/g)].flatMap((m) =>
      m[1]!
        .trim()
        .split(/\s+/)
        .map((pair) => pair.split('=') as [string, string]),
    )) {
      const expected = value.replace(/^"\$\{\w+:-(.*)\}"$/, '$1');
      expect([name, String(testJob.env?.[name])]).toEqual([name, expected]);
    }
    expect(testJob.env?.REQUIRE_SERVICES).toBe('1');
  });

  test('happy: the Debian packages .ci/run installs for the tests are installed, and the services it starts are containers', () => {
    const tools = /^test_tools="([^"]+)"$/m.exec(ciRun)?.[1]?.split(/\s+/) ?? [];
    const packages = tools.map((pair) => pair.split(':')[1]!);
    expect(packages).toEqual(['chromium', 'espeak-ng', 'nginx', 'caddy', 'sqlite3', 'postgresql-client', 'systemd']);
    // The services: started by .ci/run when not running, containers on GitHub.
    expect(ciRun).toContain('apt_install postgresql');
    expect(ciRun).toContain('apt_install redis-server');
    const aptLine = runOf(testJob)
      .split('\n')
      .find((line) => line.includes('apt-get install'));
    expect(aptLine?.split(/\s+/).slice(-packages.length)).toEqual(packages);
    // Debian, as .ci/run assumes, on the Node major of the Dockerfile's build stage.
    const buildBase = parseDockerfile(read('Dockerfile')).stages[0]!.base;
    expect(testJob.container).toBe(`node:${/^node:(\d+)-/.exec(buildBase)![1]}-bookworm`);
  });

  test('happy: PostgreSQL (postgres, no password) and Redis run as services, at the addresses the tests read', () => {
    // bookworm's pg_dump (postgresql-client 15) refuses a newer server: the service is 15 too.
    expect(testJob.services?.postgres?.image).toBe('postgres:15');
    expect(testJob.services?.postgres?.env?.POSTGRES_HOST_AUTH_METHOD).toBe('trust');
    expect(testJob.services?.redis?.image).toMatch(/^redis:\d+/);
    // .ci/run waits on the default ports; in a job container the services answer by name on them.
    expect(ciRun).toContain('port_open 5432');
    expect(ciRun).toContain('port_open 6379');
    expect(testJob.env?.TEST_POSTGRES_URL).toBe('postgres://postgres@postgres:5432/postgres');
    expect(testJob.env?.TEST_REDIS_URL).toBe('redis://redis:6379');
    const services = read('tests/helpers/services.ts');
    expect(services).toContain('process.env.TEST_POSTGRES_URL');
    expect(services).toContain('process.env.TEST_REDIS_URL');
  });

  test('happy: runs on pushes to main, pull requests and v* tags', () => {
    expect(workflow.on.push?.branches).toEqual(['main']);
    expect(workflow.on.push?.tags).toEqual(['v*']);
    expect(workflow.on).toHaveProperty('pull_request');
  });
});

describe('the release job', () => {
  const script = runOf(releaseJob);

  test('happy: only on a v* tag, after the tests pass, checking the tag against package.json', () => {
    expect(releaseJob.if).toBe("startsWith(github.ref, 'refs/tags/v')");
    expect(releaseJob.needs).toBe('test');
    expect(script).toContain(`test "\${GITHUB_REF_NAME#v}" = "$(node -p "require('./package.json').version")"`);
  });

  test('happy: installs as CI does, runs `bun run release`, and attaches every executable with SHA256SUMS', () => {
    expect(commands(script).slice(0, 2)).toEqual([
      `npx -y bun@${pkg.devDependencies.bun} install --frozen-lockfile`,
      'npx bun run release',
    ]);
    expect(commands(script)).toContain(`./dist/${executableName(releaseTargets[0]!)} --version`);
    const upload = script.split('\n').find((line) => line.includes('gh release upload'));
    expect(upload).toContain(' dist/parley-* dist/SHA256SUMS');
    const glob = new Bun.Glob('parley-*');
    for (const target of releaseTargets) expect(glob.match(executableName(target))).toBe(true);
    expect(glob.match('parley')).toBe(false);
    expect(releaseJob.permissions).toEqual({ contents: 'write' });
    expect(workflow.jobs.test!.permissions).toBeUndefined();
  });
});
