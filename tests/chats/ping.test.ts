// Idle streams stay open with `: ping` comments (SSE_PING_MS, 15 s by default).
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, readJson, register, testEnv, waitUntil } from '../helpers/client.ts';

// The shortest interval allowed, so two pings come within a quarter of a second.
const pingMs = 100;

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp({ database: 'sqlite', kv: 'memory' }, { ...testEnv, SSE_PING_MS: String(pingMs) });
});
afterAll(() => app.close());

const countPings = (body: string) => body.split(': ping\n\n').length - 1;

test('happy: an idle reader gets `: ping` comments, then the events, in order', async () => {
  const account = await register(app);
  const auth = bearer(account.accessToken);
  const { id } = await readJson(await app.request('/api/v1/streams', { method: 'POST', headers: auth, json: {} }));
  const response = await app.request(`/api/v1/streams/${id}`, { headers: auth });
  expect(response.headers.get('x-accel-buffering')).toBe('no');
  // The body as it arrives, so the test appends as soon as two pings came through the quiet.
  let body = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of response.body!) body += decoder.decode(chunk, { stream: true });
  })();
  await waitUntil(() => countPings(body) >= 2, 'two pings', 5000);
  await app.request(`/api/v1/streams/${id}/append`, { method: 'POST', headers: auth, json: { event: 'note', data: 'after the quiet' } });
  await app.request(`/api/v1/streams/${id}/close`, { method: 'POST', headers: auth });
  await reading;
  expect(countPings(body)).toBeGreaterThanOrEqual(2);
  expect(body.indexOf(': ping')).toBeLessThan(body.indexOf('event: note'));
  expect(body).toContain('data: "after the quiet"');
});
