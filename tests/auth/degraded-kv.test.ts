// With Redis unreachable the KV blacklist cannot answer; the database must still refuse a
// revoked token rather than let it in.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';

// biome-ignore lint: response bodies are inspected field by field
const readJson = (response: Response): Promise<any> => response.json();

let app: TestApp;
beforeAll(async () => {
  // Nothing listens on port 1: the store starts degraded and every command fails fast.
  app = await createTestApp({ database: 'sqlite', kv: 'memory' }, { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_ENABLED: 'true' });
});
afterAll(() => app.close());

test('error: with Redis down, sign-in works, a logged-out token is refused, and health says degraded', async () => {
  expect(app.infra.kv.kind).toBe('redis');
  expect(app.infra.kv.status()).toBe('degraded');
  const registered = await app.request('/api/v1/auth/register', {
    method: 'POST',
    json: { email: 'down@example.com', password: 'password123' },
  });
  expect(registered.status).toBe(201);
  const { accessToken, refreshToken } = await readJson(registered);
  const auth = { authorization: `Bearer ${accessToken}` };
  expect((await app.request('/api/v1/auth/me', { headers: auth })).status).toBe(200);

  expect((await app.request('/api/v1/auth/logout', { method: 'POST', headers: auth })).status).toBe(204);
  expect((await app.request('/api/v1/auth/me', { headers: auth })).status).toBe(401);
  expect((await app.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken } })).status).toBe(401);

  const health = await readJson(await app.request('/api/v1/health/detailed'));
  expect(health.status).toBe('degraded');
  expect(health.kv).toMatchObject({ kind: 'redis', status: 'degraded' });
});
