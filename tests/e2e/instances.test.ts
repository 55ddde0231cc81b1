// Two executables on one Postgres and Redis behave as one: what one revokes, the other refuses at once.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';

// biome-ignore lint: response bodies are inspected field by field
const readJson = (response: Response): Promise<any> => response.json();
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe.if(hasPostgres && hasRedis)('two instances on one Postgres and Redis', () => {
  let a: RunningBinary;
  let b: RunningBinary;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const binary = await copyBinaryToEmptyDir();
    const database = await createTestDatabase();
    const redis = createTestRedisPrefix();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redis.prefix,
      JWT_SECRET: 'shared-secret-for-both-instances-0123456789',
      RATE_LIMIT_ENABLED: 'false',
    };
    // Started together: they race for the migration lock and both come up.
    [a, b] = await Promise.all([
      startBinary({ path: binary.path, cwd: binary.dir, env: { ...env, DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-a-')) } }),
      startBinary({ path: binary.path, cwd: binary.dir, env: { ...env, DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-b-')) } }),
    ]);
    cleanup = async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis.cleanup();
      await database.drop();
      binary.remove();
    };
  }, 180_000);
  afterAll(() => cleanup?.());

  const register = async (on: RunningBinary) => {
    const response = await post(`${on.url}/api/v1/auth/register`, {
      email: `${crypto.randomUUID()}@example.com`,
      password: 'correct horse',
    });
    expect(response.status).toBe(201);
    return readJson(response);
  };
  const me = (on: RunningBinary, token: string) => fetch(`${on.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });

  test('security: a logout on A is refused on B at once', async () => {
    const session = await register(a);
    expect((await me(b, session.accessToken)).status).toBe(200);
    const logout = await post(`${a.url}/api/v1/auth/logout`, {}, { authorization: `Bearer ${session.accessToken}` });
    expect(logout.status).toBe(204);
    const refused = await me(b, session.accessToken);
    expect(refused.status).toBe(401);
    expect((await readJson(refused)).error.code).toBe('unauthorized');
    expect((await post(`${b.url}/api/v1/auth/refresh`, { refreshToken: session.refreshToken })).status).toBe(401);
  });

  test('security: a refresh token used on A cannot be replayed on B, and the replay ends the session everywhere', async () => {
    const session = await register(a);
    const rotated = await post(`${a.url}/api/v1/auth/refresh`, { refreshToken: session.refreshToken });
    expect(rotated.status).toBe(200);
    const fresh = await readJson(rotated);
    expect((await post(`${b.url}/api/v1/auth/refresh`, { refreshToken: session.refreshToken })).status).toBe(401);
    expect((await me(a, fresh.accessToken)).status).toBe(401);
    expect((await post(`${a.url}/api/v1/auth/refresh`, { refreshToken: fresh.refreshToken })).status).toBe(401);
  });

  test('security: a session deleted through B stops working on A', async () => {
    const first = await register(a);
    const login = await post(`${a.url}/api/v1/auth/login`, { email: first.user.email, password: 'correct horse' });
    const second = await readJson(login);
    const sessions = await readJson(
      await fetch(`${b.url}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${second.accessToken}` } }),
    );
    const other = sessions.data.find((session: { current: boolean }) => !session.current);
    expect(sessions.data).toHaveLength(2);
    const removed = await fetch(`${b.url}/api/v1/auth/sessions/${other.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${second.accessToken}` },
    });
    expect(removed.status).toBe(204);
    expect((await me(a, first.accessToken)).status).toBe(401);
    expect((await me(a, second.accessToken)).status).toBe(200);
  });
});
