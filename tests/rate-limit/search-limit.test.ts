// The per-caller search limit (SEARCH_RATE_LIMIT_PER_MINUTE) on GET /api/v1/chats/search, through
// the whole app on both storage kinds: per user, per IP for guests, and listed by GET /rate-limit.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, guest, readJson, register, testEnv } from '../helpers/client.ts';

const searchMax = 3;
const env = {
  ...testEnv,
  RATE_LIMIT_ENABLED: 'true',
  RATE_LIMIT_MAX_REQUESTS: '1000',
  AUTH_RATE_LIMIT_MAX: '1000',
  TRUST_PROXY: 'true',
  SEARCH_RATE_LIMIT_PER_MINUTE: String(searchMax),
};

let ipCounter = 0;
/** A client address no other test uses, so the per-IP budgets of one test leave the others alone. */
const uniqueIp = () => `10.12.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

for (const [name, kind] of kinds) {
  describe(`search limit on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, env);
    });
    afterAll(() => app.close());

    const search = (token: string, ip: string) =>
      app.request('/api/v1/chats/search?q=hello', { headers: { ...bearer(token), 'x-forwarded-for': ip } });

    test(`error: the search after ${searchMax} in a minute is 429 rate_limited with Retry-After and RateLimit-* headers`, async () => {
      const ip = uniqueIp();
      const account = await register(app, { headers: { 'x-forwarded-for': ip } });
      for (let i = 1; i <= searchMax; i++) {
        const response = await search(account.accessToken, ip);
        expect(response.status).toBe(200);
        expect(response.headers.get('ratelimit-limit')).toBe(String(searchMax));
        expect(response.headers.get('ratelimit-remaining')).toBe(String(searchMax - i));
        expect(Number(response.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
      }
      const refused = await search(account.accessToken, ip);
      expect(refused.status).toBe(429);
      expect((await readJson(refused)).error.code).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(refused.headers.get('ratelimit-limit')).toBe(String(searchMax));
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      // Only searches are limited: the user's other routes still answer.
      expect((await app.request('/api/v1/chats', { headers: { ...bearer(account.accessToken), 'x-forwarded-for': ip } })).status).toBe(200);
    });

    test('security: the budget is per user: another user from the same address is unaffected', async () => {
      const ip = uniqueIp();
      const first = await register(app, { headers: { 'x-forwarded-for': ip } });
      const second = await register(app, { headers: { 'x-forwarded-for': ip } });
      for (let i = 0; i < searchMax; i++) expect((await search(first.accessToken, ip)).status).toBe(200);
      expect((await search(first.accessToken, ip)).status).toBe(429);
      // The same user from another address is still refused: the budget follows the user.
      expect((await search(first.accessToken, uniqueIp())).status).toBe(429);
      const other = await search(second.accessToken, ip);
      expect(other.status).toBe(200);
      expect(other.headers.get('ratelimit-remaining')).toBe(String(searchMax - 1));
    });

    test('security: guests are limited per IP: a new guest from a spent address is refused, one from elsewhere is not', async () => {
      const ip = uniqueIp();
      const firstGuest = await guest((path, init) => app.request(path, { ...init, headers: { ...init?.headers, 'x-forwarded-for': ip } }));
      const secondGuest = await guest((path, init) => app.request(path, { ...init, headers: { ...init?.headers, 'x-forwarded-for': ip } }));
      for (let i = 0; i < searchMax; i++) expect((await search(firstGuest.accessToken, ip)).status).toBe(200);
      expect((await search(secondGuest.accessToken, ip)).status).toBe(429);
      expect((await search(secondGuest.accessToken, uniqueIp())).status).toBe(200);
    });

    test('happy: GET /rate-limit lists the search limit with what is left, keeping the LLM fields', async () => {
      const ip = uniqueIp();
      const account = await register(app, { headers: { 'x-forwarded-for': ip } });
      const status = async () =>
        readJson(await app.request('/api/v1/rate-limit', { headers: { ...bearer(account.accessToken), 'x-forwarded-for': ip } }));
      const before = await status();
      expect(before.limits).toEqual({ perMinute: 10, perHour: 100, perDay: 500 });
      expect(before.remaining).toBeDefined();
      expect(before.resetSeconds).toBeDefined();
      expect(before.search).toEqual({ limit: searchMax, remaining: searchMax, reset: 60 });
      expect((await search(account.accessToken, ip)).status).toBe(200);
      const after = await status();
      expect(after.search.limit).toBe(searchMax);
      expect(after.search.remaining).toBe(searchMax - 1);
      expect(after.search.reset).toBeGreaterThan(0);
      expect(after.search.reset).toBeLessThanOrEqual(60);
    });
  });
}
