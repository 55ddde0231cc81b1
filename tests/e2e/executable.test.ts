// The built executable, copied alone into an empty directory, run as a user would run it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';

// biome-ignore lint: response bodies are inspected field by field
const readJson = (response: Response): Promise<any> => response.json();

let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;

beforeAll(async () => {
  binary = await copyBinaryToEmptyDir();
}, 180_000);
afterAll(() => binary?.remove());

async function runOnce(args: string[], env: Record<string, string> = {}, cwd = binary.dir) {
  const proc = Bun.spawn([binary.path, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdout: 'pipe', stderr: 'pipe' });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

describe('executable with no configuration', () => {
  let server: RunningBinary;
  beforeAll(async () => {
    server = await startBinary({ path: binary.path, cwd: binary.dir });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('happy: serves health', async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ status: 'ok' });
    const detailed = await readJson(await fetch(`${server.url}/api/v1/health/detailed`));
    expect(detailed).toMatchObject({
      status: 'ok',
      version: pkg.version,
      database: { kind: 'sqlite' },
      kv: { kind: 'memory' },
      providers: ['echo'],
    });
  });

  test('security: keeps SQLite and the generated secret in ./data beside it, readable by its owner only', () => {
    expect(existsSync(join(binary.dir, 'data/parley.db'))).toBe(true);
    expect(statSync(join(binary.dir, 'data')).mode & 0o777).toBe(0o700);
    expect(statSync(join(binary.dir, 'data/jwt-secret')).mode & 0o777).toBe(0o600);
  });

  test('happy: serves the docs and their assets from inside the executable', async () => {
    const doc = await readJson(await fetch(`${server.url}/swagger/json`));
    expect(Object.keys(doc.paths)).toContain('/api/v1/health/detailed');
    const page = await fetch(`${server.url}/swagger`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/swagger/assets/swagger-ui-bundle.js');
    const asset = await fetch(`${server.url}/swagger/assets/swagger-ui.css`);
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(10_000);
  });

  test('error: answers an unknown route with 404 in the error shape', async () => {
    const response = await fetch(`${server.url}/api/v1/nope`, { headers: { 'x-request-id': 'e2e-404' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('e2e-404');
    expect(await readJson(response)).toEqual({
      error: { code: 'not_found', message: 'No route for GET /api/v1/nope', requestId: response.headers.get('x-request-id') },
    });
  });

  test('error: validation holds in the compiled executable as from source: query integers out of range and unknown body fields are 422', async () => {
    // Identifier minification once switched off Elysia's query coercion in the build: limit=-5 reached the database.
    const registered = await fetch(`${server.url}/api/v1/auth/guest`, { method: 'POST' });
    const { accessToken } = await readJson(registered);
    const headers = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' };
    for (const [path, field] of [
      ['/api/v1/chats?limit=0', 'query.limit'],
      ['/api/v1/chats?limit=-5', 'query.limit'],
      ['/api/v1/chats?limit=101', 'query.limit'],
      ['/api/v1/chats?limit=abc', 'query.limit'],
      ['/api/v1/auth/sessions?limit=0', 'query.limit'],
      ['/api/v1/users/me/usage?days=0', 'query.days'],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, { headers });
      const body = await readJson(response);
      expect(`${path} ${response.status} ${body.error?.details?.[0]?.field}`).toBe(`${path} 422 ${field}`);
    }
    const created = await fetch(`${server.url}/api/v1/chats`, { method: 'POST', headers, body: JSON.stringify({ title: 't', bogus: 1 }) });
    expect(created.status).toBe(422);
    expect((await readJson(created)).error.details[0].field).toBe('body.bogus');
    const listed = await readJson(await fetch(`${server.url}/api/v1/chats?limit=1`, { headers }));
    expect(listed.data).toEqual([]);
  });

  test('happy: writes one JSON access-log line per request', async () => {
    await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'e2e-log' } });
    const line = await server.waitForLog((entry) => entry.requestId === 'e2e-log');
    expect(line).toMatchObject({ msg: 'request', method: 'GET', route: '/health', status: 200 });
  });

  test('happy: shuts down cleanly on SIGTERM', async () => {
    const other = await startBinary({ path: binary.path, cwd: binary.dir });
    expect(await other.stop('SIGTERM')).toBe(0);
    expect(other.logs.some((entry) => entry.msg === 'stopped')).toBe(true);
    await expect(fetch(`${other.url}/health`)).rejects.toThrow();
  });
});

describe('graceful shutdown', () => {
  test('happy: SIGTERM lets a streaming reply finish, then exits 0', async () => {
    const server = await startBinary({
      path: binary.path,
      cwd: binary.dir,
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-grace-')), ECHO_DELAY_MS: '40', RATE_LIMIT_ENABLED: 'false' },
    });
    const post = (path: string, body: unknown, token?: string) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const { accessToken } = await readJson(await post('/api/v1/auth/guest', {}));
    const chat = await readJson(await post('/api/v1/chats', {}, accessToken));
    const words = 'one two three four five six seven eight';
    const response = await post(`/api/v1/chats/${chat.id}/messages`, { content: words }, accessToken);
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: start');
    const exited = server.stop('SIGTERM');
    let rest = first;
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toContain('event: done');
    expect(rest).toContain('"finishReason":"stop"');
    const text = [...rest.matchAll(/event: delta\ndata: (.*)\n/g)].map((match) => JSON.parse(match[1]!).text).join('');
    expect(text).toBe(words);
    expect(await exited).toBe(0);
    expect(server.logs.some((entry) => entry.msg === 'stopped')).toBe(true);
  });
});

describe('executable CLI', () => {
  test('happy: --version and --help', async () => {
    // The version, the commit built (as `git rev-parse HEAD`, `-dirty` with local changes) and when, to the second.
    const line = (await runOnce(['--version'])).stdout.trim();
    const match = /^parley (\S+) \(commit ([0-9a-f]{40}(?:-dirty)?|unknown), built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)$/.exec(line);
    expect(match?.[1]).toBe(pkg.version);
    expect(Date.now() - Date.parse(match![3]!)).toBeLessThan(24 * 3600_000);
    const help = await runOnce(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('parley migrate');
    expect(help.stdout).toContain('parley [serve]');
  });

  test('error: unknown arguments exit 2 with the usage', async () => {
    const result = await runOnce(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage:');
  });

  test('happy: migrate applies the embedded migrations and is idempotent', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-migrate-'));
    const first = await runOnce(['migrate'], { DATA_DIR: dataDir });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout.trim())).toMatchObject({ msg: 'migrations up to date', database: 'sqlite' });
    expect(JSON.parse(first.stdout.trim()).applied).toBeGreaterThan(0);
    const second = await runOnce(['migrate'], { DATA_DIR: dataDir });
    expect(JSON.parse(second.stdout.trim()).applied).toBe(0);
  });

  test('happy: migrate --status and seed work from the executable alone (migrations embedded, no source beside it)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-status-'));
    const before = await runOnce(['migrate', '--status'], { DATA_DIR: dataDir });
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^0 applied, \d+ pending$/m);
    expect(before.stdout).toContain('pending  0000_init');
    const seeded = await runOnce(['seed'], {
      DATA_DIR: dataDir,
      ECHO_DELAY_MS: '0',
      PASSWORD_HASH_MEMORY_KIB: '64',
      PASSWORD_HASH_TIME_COST: '1',
    });
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toContain('user admin@parley.demo (admin, enterprise) password: ');
    const after = await runOnce(['migrate', '--status'], { DATA_DIR: dataDir });
    expect(after.stdout).toMatch(/^\d+ applied, 0 pending$/m);
    expect((await runOnce(['seed'], { DATA_DIR: dataDir })).code).toBe(1);
  });

  test('error: a bad value exits 1 with one line naming the variable', async () => {
    const result = await runOnce([], { PORT: 'abc' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('PORT');
  });

  test('happy: the executable reads .env from its working directory itself; the real environment wins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-dotenv-'));
    writeFileSync(join(dir, '.env'), `DATA_DIR=${join(dir, 'from-dotenv')}\nSSE_PING_MS=999999\n`);
    // The file's bad value stops start-up, naming the variable: the file was read.
    const fromFile = await runOnce(['migrate'], {}, dir);
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toContain('SSE_PING_MS');
    // Set in the environment, the same variable wins over the file; the file's DATA_DIR still applies.
    const overridden = await runOnce(['migrate'], { SSE_PING_MS: '5000' }, dir);
    expect(overridden.code).toBe(0);
    expect(existsSync(join(dir, 'from-dotenv', 'parley.db'))).toBe(true);
  });

  test('error: production refuses to start without JWT_SECRET', async () => {
    const result = await runOnce([], { NODE_ENV: 'production', DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-prod-')) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('JWT_SECRET');
  });
});

describe.if(hasPostgres && hasRedis)('executable on Postgres and Redis', () => {
  test('happy: migrates, serves and reports both', async () => {
    const database = await createTestDatabase();
    const redis = createTestRedisPrefix();
    const server = await startBinary({
      path: binary.path,
      cwd: binary.dir,
      env: {
        DATABASE_URL: database.url,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: redis.prefix,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-pg-')),
      },
    });
    try {
      const detailed = await readJson(await fetch(`${server.url}/api/v1/health/detailed`));
      expect(detailed).toMatchObject({ status: 'ok', database: { kind: 'postgres', status: 'ok' }, kv: { kind: 'redis', status: 'ok' } });
      expect(JSON.stringify(server.logs)).not.toContain(database.url);
    } finally {
      expect(await server.stop()).toBe(0);
      await redis.cleanup();
      await database.drop();
    }
  });
});
