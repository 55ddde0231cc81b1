// Idle streams stay open with `: ping` comments (SSE_PING_MS, 15 s by default).
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, readJson, register, testEnv } from '../helpers/client.ts';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp({ database: 'sqlite', kv: 'memory' }, { ...testEnv, SSE_PING_MS: '150' });
});
afterAll(() => app.close());

test('an idle reader gets `: ping` comments, then the events, in order', async () => {
  const account = await register(app);
  const auth = bearer(account.accessToken);
  const { id } = await readJson(await app.request('/api/v1/streams', { method: 'POST', headers: auth, json: {} }));
  const reading = app.request(`/api/v1/streams/${id}`, { headers: auth }).then((response) => {
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    return response.text();
  });
  await Bun.sleep(500);
  await app.request(`/api/v1/streams/${id}/append`, { method: 'POST', headers: auth, json: { event: 'note', data: 'after the quiet' } });
  await app.request(`/api/v1/streams/${id}/close`, { method: 'POST', headers: auth });
  const body = await reading;
  const pings = body.split(': ping\n\n').length - 1;
  expect(pings).toBeGreaterThanOrEqual(2);
  expect(body.indexOf(': ping')).toBeLessThan(body.indexOf('event: note'));
  expect(body).toContain('data: "after the quiet"');
});
