// "A refused call consumes nothing", through the public API on every storage kind: an LLM call
// refused by one window (minute, hour or day) is charged to no other, so GET /rate-limit reports
// exactly the calls admitted; a refused chat message stores nothing; concurrent calls, on one
// instance or on two sharing Redis, admit exactly the limit; and a login refused by the auth
// budget costs nothing of the general one (or the reverse). In process every request comes from
// the IP 'unknown', so each app has budgets of its own.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Env } from '../../src/config/index.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { createChat, expectError, getChat, rateLimit, register, sendMessage, statelessChat, uniqueEmail } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

// The general per-IP budget is set out of the way: these tests are about the LLM windows.
const llmEnv: Env = {
  RATE_LIMIT_ENABLED: 'true',
  RATE_LIMIT_MAX_REQUESTS: '10000',
  RATELIMIT_PER_MINUTE: '3',
  RATELIMIT_PER_HOUR: '100',
  RATELIMIT_PER_DAY: '500',
};

const rateHeaders = (response: Response) => ({
  limit: response.headers.get('ratelimit-limit'),
  remaining: response.headers.get('ratelimit-remaining'),
});

for (const [name, kind] of kinds) {
  describe(`LLM windows, all or none, on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv);
    });
    afterAll(() => app.close());

    test('happy: 5 messages with 3 a minute: 3 admitted, 2 refused, and the hour and day windows show exactly 3 used', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken);
      const statuses: number[] = [];
      for (let i = 1; i <= 5; i++) {
        const response = await sendMessage(app, account.accessToken, chat.id, { content: `message ${i}`, stream: false });
        statuses.push(response.status);
        if (response.status === 429) {
          const body = await expectError(response, 429, 'rate_limited');
          expect(body.error.message).toContain('perMinute');
          expect(body.error.message).not.toContain('perHour');
          const retryAfter = Number(response.headers.get('retry-after'));
          expect(retryAfter).toBeWithin(1, 61);
        } else await response.arrayBuffer();
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);

      const status = await rateLimit(app, account.accessToken);
      expect(status.limits).toEqual({ perMinute: 3, perHour: 100, perDay: 500 });
      expect(status.remaining).toEqual({ perMinute: 0, perHour: 97, perDay: 497 });
      expect(status.resetSeconds.perMinute).toBeWithin(1, 61);
      expect(status.resetSeconds.perHour).toBeWithin(3500, 3601);
      expect(status.resetSeconds.perDay).toBeWithin(86_300, 86_401);
      // Asking does not count: a second look shows the same.
      expect((await rateLimit(app, account.accessToken)).remaining).toEqual({ perMinute: 0, perHour: 97, perDay: 497 });
    });

    test('error: a refused message stores nothing: the chat holds the 3 admitted turns only', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken);
      for (const content of ['one', 'two', 'three']) {
        const response = await sendMessage(app, account.accessToken, chat.id, { content, stream: false });
        expect(response.status).toBe(200);
        await response.arrayBuffer();
      }
      for (const content of ['refused four', 'refused five']) {
        await expectError(await sendMessage(app, account.accessToken, chat.id, { content, stream: false }), 429, 'rate_limited');
      }
      // Streamed or regenerated, a refused call is refused before anything is stored too.
      await expectError(await sendMessage(app, account.accessToken, chat.id, { content: 'refused six' }), 429, 'rate_limited');
      const stored = await getChat(app, account.accessToken, chat.id);
      expect(stored.messages.map((m) => `${m.role}:${m.content}`)).toEqual([
        'user:one',
        'assistant:one',
        'user:two',
        'assistant:two',
        'user:three',
        'assistant:three',
      ]);
      expect((await rateLimit(app, account.accessToken)).remaining).toEqual({ perMinute: 0, perHour: 97, perDay: 497 });
    });

    test('security: 12 parallel calls with 3 a minute admit exactly 3; the other windows count exactly 3', async () => {
      const account = await register(app);
      const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => statelessChat(app, account.accessToken, `parallel ${i}`)));
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(3);
      expect(statuses.filter((status) => status === 429)).toHaveLength(9);
      for (const response of responses) await response.arrayBuffer();
      expect((await rateLimit(app, account.accessToken)).remaining).toEqual({ perMinute: 0, perHour: 97, perDay: 497 });
    });

    test('happy: another user is not charged for anyone else’s calls', async () => {
      const spender = await register(app);
      const other = await register(app);
      for (let i = 0; i < 4; i++) await (await statelessChat(app, spender.accessToken)).arrayBuffer();
      expect((await rateLimit(app, other.accessToken)).remaining).toEqual({ perMinute: 3, perHour: 100, perDay: 500 });
      expect((await statelessChat(app, other.accessToken)).status).toBe(200);
    });
  });

  describe(`a call refused by the hour window on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...llmEnv, RATELIMIT_PER_MINUTE: '10', RATELIMIT_PER_HOUR: '2' });
    });
    afterAll(() => app.close());

    test('error: refused by the hour, it charges neither the minute nor the day window', async () => {
      const account = await register(app);
      expect((await statelessChat(app, account.accessToken)).status).toBe(200);
      expect((await statelessChat(app, account.accessToken)).status).toBe(200);
      for (let i = 0; i < 3; i++) {
        const refused = await statelessChat(app, account.accessToken);
        const body = await expectError(refused, 429, 'rate_limited');
        expect(body.error.message).toContain('perHour');
        expect(body.error.message).not.toContain('perMinute');
        expect(Number(refused.headers.get('retry-after'))).toBeWithin(3500, 3601);
      }
      expect((await rateLimit(app, account.accessToken)).remaining).toEqual({ perMinute: 8, perHour: 0, perDay: 498 });
    });
  });

  describe(`the per-IP budgets, all or none, on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, {
        RATE_LIMIT_ENABLED: 'true',
        AUTH_RATE_LIMIT_MAX: '2',
        AUTH_RATE_LIMIT_WINDOW_MS: '900000',
        RATE_LIMIT_MAX_REQUESTS: '10',
        RATE_LIMIT_WINDOW_MS: '900000',
      });
    });
    afterAll(() => app.close());

    test('security: logins refused by the auth budget cost nothing of the general budget', async () => {
      const login = () =>
        app.request('/api/v1/auth/login', { method: 'POST', json: { email: uniqueEmail('guess'), password: 'guessing-password' } });
      for (let attempt = 1; attempt <= 2; attempt++) {
        const response = await login();
        await expectError(response, 401, 'unauthorized');
        expect(rateHeaders(response)).toEqual({ limit: '2', remaining: String(2 - attempt) });
      }
      for (let attempt = 0; attempt < 4; attempt++) {
        const refused = await login();
        await expectError(refused, 429, 'rate_limited');
        expect(rateHeaders(refused)).toEqual({ limit: '2', remaining: '0' });
      }
      // Two admitted logins, then this request: 10 - 3 left, whatever the refused logins were.
      const models = await app.request('/api/v1/models');
      expect(models.status).toBe(200);
      expect(rateHeaders(models)).toEqual({ limit: '10', remaining: '7' });
    });
  });

  describe(`a login refused by the general budget on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, {
        RATE_LIMIT_ENABLED: 'true',
        AUTH_RATE_LIMIT_MAX: '5',
        AUTH_RATE_LIMIT_WINDOW_MS: '900000',
        RATE_LIMIT_MAX_REQUESTS: '3',
        RATE_LIMIT_WINDOW_MS: '900000',
      });
    });
    afterAll(() => app.close());

    test('security: it costs nothing of the auth budget', async () => {
      for (let i = 0; i < 3; i++) expect((await app.request('/api/v1/models')).status).toBe(200);
      for (let i = 0; i < 3; i++) {
        const refused = await app.request('/api/v1/auth/login', {
          method: 'POST',
          json: { email: uniqueEmail('guess'), password: 'guessing-password' },
        });
        await expectError(refused, 429, 'rate_limited');
        expect(rateHeaders(refused)).toEqual({ limit: '3', remaining: '0' });
      }
      const auth = await app.infra.kv.peekWindows([{ key: 'ratelimit:auth:unknown', limit: 5, ttlMs: 900_000 }]);
      expect(auth.windows[0]!.count).toBe(0);
    });
  });
}

describe.if(hasPostgres && hasRedis)('two instances on one Postgres and Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const env = { ...llmEnv, JWT_SECRET: 'shared-secret-for-both-instances-0123456789' };
    a = await createTestApp({ database: 'postgres', kv: 'redis' }, env);
    // B uses A's database and key prefix: a second instance of the same deployment.
    b = await createTestApp(
      { database: 'sqlite', kv: 'redis' },
      { ...env, DATABASE_URL: a.infra.config.databaseUrl, REDIS_KEY_PREFIX: a.infra.config.redisKeyPrefix },
    );
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test('security: parallel calls spread over both admit exactly the limit in total', async () => {
    const account = await register(a);
    const responses = await Promise.all(
      Array.from({ length: 16 }, (_, i) => statelessChat(i % 2 ? b : a, account.accessToken, `two instances ${i}`)),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(13);
    for (const response of responses) await response.arrayBuffer();
    for (const instance of [a, b]) {
      expect((await rateLimit(instance, account.accessToken)).remaining).toEqual({ perMinute: 0, perHour: 97, perDay: 497 });
    }
  });

  test('error: a call refused on one instance is charged on neither', async () => {
    const account = await register(b);
    for (const instance of [a, b, a]) expect((await statelessChat(instance, account.accessToken)).status).toBe(200);
    for (const instance of [b, a, b]) await expectError(await statelessChat(instance, account.accessToken), 429, 'rate_limited');
    expect((await rateLimit(b, account.accessToken)).remaining).toEqual({ perMinute: 0, perHour: 97, perDay: 497 });
  });
});
