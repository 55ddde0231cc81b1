// Every public route has the general per-IP budget, GET /chats/featured included (it had none).
// In process every request comes from the IP 'unknown', so this app has a budget of its own.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectError } from '../helpers/client.ts';

describe('the general limit on public routes', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(undefined, { RATE_LIMIT_MAX_REQUESTS: '3', RATE_LIMIT_WINDOW_MS: '900000' });
  });
  afterAll(() => app.close());

  test('security: GET /chats/featured counts against the per-IP budget; the 4th is 429 with Retry-After', async () => {
    for (let i = 1; i <= 3; i++) {
      const response = await app.request('/api/v1/chats/featured');
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit-limit')).toBe('3');
      expect(response.headers.get('ratelimit-remaining')).toBe(String(3 - i));
    }
    const limited = await app.request('/api/v1/chats/featured');
    await expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // The same budget: another public route of the API is refused too.
    await expectError(await app.request('/api/v1/models'), 429, 'rate_limited');
  });
});
