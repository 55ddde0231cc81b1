// The per-IP auth budget (AUTH_RATE_LIMIT_MAX) on login, register and the password-reset pair,
// apart from the general API budget, on every storage kind. In process every request comes
// from the IP 'unknown', so each app here has its own budget.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, readJson, uniqueEmail } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

const rateHeaders = (response: Response) => ({
  limit: response.headers.get('ratelimit-limit'),
  remaining: response.headers.get('ratelimit-remaining'),
  reset: response.headers.get('ratelimit-reset'),
});

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`auth rate limit on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { AUTH_RATE_LIMIT_MAX: '5', AUTH_RATE_LIMIT_WINDOW_MS: '900000', RATE_LIMIT_MAX_REQUESTS: '100' });
    });
    afterAll(() => app.close());

    test('security: the 6th login is 429 with Retry-After and RateLimit-*, the other auth routes share the budget, /auth/me does not', async () => {
      const login = () =>
        app.request('/api/v1/auth/login', { method: 'POST', json: { email: uniqueEmail('guess'), password: 'guessing-password' } });
      for (let attempt = 1; attempt <= 5; attempt++) {
        const response = await login();
        await expectError(response, 401, 'unauthorized');
        const headers = rateHeaders(response);
        expect(headers.limit).toBe('5');
        expect(headers.remaining).toBe(String(5 - attempt));
        expect(Number(headers.reset)).toBeGreaterThan(0);
        expect(Number(headers.reset)).toBeLessThanOrEqual(900);
      }
      const limited = await login();
      const body = await expectError(limited, 429, 'rate_limited');
      expect(body.error.message).toMatch(/retry/i);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(900);
      expect(rateHeaders(limited)).toEqual({ limit: '5', remaining: '0', reset: expect.stringMatching(/^\d+$/) });

      // The same budget covers register and the password-reset pair.
      const register = await app.request('/api/v1/auth/register', {
        method: 'POST',
        json: { email: uniqueEmail(), password: 'long enough pw' },
      });
      await expectError(register, 429, 'rate_limited');
      expect(register.headers.get('retry-after')).not.toBeNull();
      await expectError(
        await app.request('/api/v1/auth/forgot-password', { method: 'POST', json: { email: uniqueEmail() } }),
        429,
        'rate_limited',
      );
      const reset = await app.request('/api/v1/auth/reset-password', {
        method: 'POST',
        json: { token: 'some-token-value', newPassword: 'long enough pw' },
      });
      await expectError(reset, 429, 'rate_limited');

      // Guests and /auth/me run on the general budget, which has plenty left.
      const guest = await app.request('/api/v1/auth/guest', { method: 'POST' });
      expect(guest.status).toBe(201);
      const { accessToken } = await readJson(guest);
      const me = await app.request('/api/v1/auth/me', { headers: bearer(accessToken) });
      expect(me.status).toBe(200);
      expect(rateHeaders(me).limit).toBe('100');
      expect(Number(rateHeaders(me).remaining)).toBeGreaterThan(80);
      expect(me.headers.get('retry-after')).toBeNull();
    });
  });

  describe(`auth rate limit switched off on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { AUTH_RATE_LIMIT_MAX: '5', RATE_LIMIT_ENABLED: 'false' });
    });
    afterAll(() => app.close());

    test('happy: with RATE_LIMIT_ENABLED=false, failed logins stay 401 past the budget and carry no RateLimit headers', async () => {
      for (let attempt = 1; attempt <= 8; attempt++) {
        const response = await app.request('/api/v1/auth/login', {
          method: 'POST',
          json: { email: uniqueEmail('guess'), password: 'guessing-password' },
        });
        await expectError(response, 401, 'unauthorized');
        expect(response.headers.get('ratelimit-limit')).toBeNull();
      }
    });
  });
}
