// Typed clients outside the server's install. The tiny front-end project in consumer/ is copied to
// an empty directory with its own copies of its dependencies (Eden and its peers elysia and
// TypeBox, openapi-fetch, eventsource-parser) and `parley` holding only package.json and what
// `bun run build:client` writes; openapi-typescript generates api.ts from /swagger/json. TypeScript
// checks both examples there, a route or body that does not exist fails the check, and both
// examples, run there by Bun, stream a reply, lose the connection and resume it to the end.
// README shows the same code: each of its TypeScript blocks under "Typed clients" is in consumer/.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import { clientPeers } from '../../scripts/build-client.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { repoRoot } from '../helpers/binary.ts';
import { testEnv } from '../helpers/client.ts';

const fixture = join(import.meta.dir, 'consumer');
const consumerPackages = ['@elysiajs/eden', 'elysia', 'eventsource-parser', 'openapi-fetch'];

async function run(argv: string[], cwd: string) {
  const proc = Bun.spawn(argv, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1' },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr, output: `${stdout}${stderr}` };
}

/** `names` and what they need at install time (dependencies and non-optional peers), as found in the server's node_modules. */
function installClosure(names: string[]): string[] {
  const found = new Set<string>();
  const queue = [...names];
  for (let name = queue.pop(); name; name = queue.pop()) {
    if (found.has(name) || !existsSync(join(repoRoot, 'node_modules', name, 'package.json'))) continue;
    found.add(name);
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8'));
    const optional = manifest.peerDependenciesMeta ?? {};
    queue.push(...Object.keys(manifest.dependencies ?? {}));
    queue.push(...Object.keys(manifest.peerDependencies ?? {}).filter((peer) => !optional[peer]?.optional));
  }
  return [...found].sort();
}

describe('README', () => {
  test('happy: its Typed clients section shows the two examples this suite type-checks and runs, as they are', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Typed clients'), readme.indexOf('\n## ', readme.indexOf('## Typed clients') + 1));
    const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks).toEqual([readFileSync(join(fixture, 'eden.ts'), 'utf8'), readFileSync(join(fixture, 'openapi-fetch.ts'), 'utf8')]);
    expect(section).toContain(
      `npm install ../parley/dist/parley-client-${pkg.version}.tgz @elysiajs/eden elysia@${pkg.dependencies.elysia}`,
    );
    expect(section).toContain('Last-Event-ID');
  });
});

describe('typed clients in a front-end project of their own', () => {
  let app: TestApp;
  let dir: string;
  let baseUrl: string;
  let built: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parley-consumer-'));
    cpSync(fixture, dir, { recursive: true });
    // Its own install: real copies, so nothing resolves into the server's node_modules.
    for (const name of installClosure(consumerPackages))
      cpSync(join(repoRoot, 'node_modules', name), join(dir, 'node_modules', name), { recursive: true, dereference: true });
    // As the README says: build:client packs parley-client-<version>.tgz, and the front end installs
    // that file (npm unpacks its package/ into node_modules/parley).
    built = await run([process.execPath, 'run', 'build:client', '--outdir', join(dir, 'parley/dist/client')], repoRoot);
    const tarball = join(dir, `parley/dist/parley-client-${pkg.version}.tgz`);
    mkdirSync(join(dir, 'node_modules/parley'), { recursive: true });
    const unpacked = await run(['tar', '-xzf', tarball, '-C', join(dir, 'node_modules/parley'), '--strip-components=1'], dir);
    if (unpacked.code !== 0) throw new Error(`could not unpack ${tarball}: ${unpacked.output}`);

    app = await createTestApp(undefined, { ...testEnv, ECHO_DELAY_MS: '30' });
    const server = app.app.listen({ port: 0, hostname: '127.0.0.1' }).server!;
    baseUrl = `http://127.0.0.1:${server.port}`;
    await Bun.write(join(dir, 'openapi.json'), await (await fetch(`${baseUrl}/swagger/json`)).text());
    const generated = await run(
      [process.execPath, join(repoRoot, 'tests/docs/generate-types.ts'), join(dir, 'openapi.json'), join(dir, 'api.ts')],
      repoRoot,
    );
    if (generated.code !== 0) throw new Error(`openapi-typescript failed: ${generated.output}`);
  }, 300_000);
  afterAll(async () => {
    await app?.app.stop(true);
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('happy: package.json exports the client types that build:client writes and packs, which import only Eden’s peers', async () => {
    expect(built.output).toContain('declaration files');
    expect(built.code).toBe(0);
    expect(pkg.exports['./client']).toEqual({ types: './dist/client/client.d.ts' });
    expect(pkg.typesVersions['*'].client).toEqual([pkg.exports['./client'].types]);
    // The packed package: the same export, from its own root, with Elysia as its only peer.
    const installed = JSON.parse(readFileSync(join(dir, 'node_modules/parley/package.json'), 'utf8'));
    expect(installed).toMatchObject({
      name: 'parley',
      version: pkg.version,
      exports: { './client': { types: './client.d.ts' } },
      peerDependencies: { elysia: pkg.dependencies.elysia },
    });
    expect(installed.dependencies).toBeUndefined();
    const declarations = await Array.fromAsync(new Bun.Glob('**/*.d.ts').scan(join(dir, 'node_modules/parley')));
    expect(declarations).toContain('client.d.ts');
    for (const file of declarations) {
      const text = readFileSync(join(dir, 'node_modules/parley', file), 'utf8');
      for (const [, specifier] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'".][^'"]*)['"]/g))
        expect(clientPeers.some((peer) => specifier === peer || specifier!.startsWith(`${peer}/`))).toBe(true);
    }
    expect(existsSync(join(dir, 'node_modules/parley/node_modules'))).toBe(false);
  });

  test('happy: both examples type-check with the project’s own copies of elysia and the rest', async () => {
    const checked = await run([join(repoRoot, 'node_modules/.bin/tsc'), '-p', 'tsconfig.json'], dir);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  }, 60_000);

  test('error: a path, a body field or an answer field the API does not have fails the check', async () => {
    await Bun.write(
      join(dir, 'wrong.ts'),
      `import { treaty } from '@elysiajs/eden';
import createClient from 'openapi-fetch';
import type { App } from 'parley/client';
import type { paths } from './api.ts';

export async function wrong() {
  const api = treaty<App>('http://localhost:3000');
  await api.api.v1.chatz.get();
  await api.api.v1.auth.login.post({ email: 'a@b.co', pasword: 'x' });
  const me = await api.api.v1.auth.me.get();
  if (me.data) me.data.nickname;
  const client = createClient<paths>({ baseUrl: 'http://localhost:3000' });
  await client.GET('/api/v1/chatz');
}
`,
    );
    const strict = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8'));
    await Bun.write(join(dir, 'tsconfig.wrong.json'), JSON.stringify({ ...strict, include: ['wrong.ts'] }));
    const result = await run([join(repoRoot, 'node_modules/.bin/tsc'), '-p', 'tsconfig.wrong.json'], dir);
    expect(result.code).not.toBe(0);
    for (const line of [8, 9, 11, 13]) expect(result.output).toMatch(new RegExp(`wrong\\.ts\\(${line},\\d+\\): error TS`));
    rmSync(join(dir, 'wrong.ts'));
  }, 60_000);

  test('happy: run there by Bun, both examples stream a reply, lose the connection, and resume it to the end', async () => {
    const result = await run([process.execPath, 'run.ts', baseUrl], dir);
    if (result.code !== 0) console.error(result.output);
    expect(result.code).toBe(0);
    const got = JSON.parse(result.stdout) as Record<'eden' | 'openapiFetch', { chatId: string; text: string; finishReason: string }>;
    for (const example of [got.eden, got.openapiFetch]) {
      expect(example.text).toBe('one two three four five six seven eight');
      expect(example.finishReason).toBe('stop');
    }
    expect(got.eden.chatId).not.toBe(got.openapiFetch.chatId);
  }, 60_000);
});
