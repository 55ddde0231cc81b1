// A key's limits hold (issue 15, point 6), through the public API: a model the key does not allow
// is 403 before anything is stored or sent upstream; over its calls or tokens per minute it is 429
// `rate_limited`, over its monthly budget 429 `quota_exceeded`, each with Retry-After; a changed
// limit or expiry applies to the next call. They hold with RATE_LIMIT_ENABLED off (the owner set
// them), beside the tier's windows when it is on, and exactly across two instances sharing
// Postgres and Redis. Other keys and the owner's own session are not limited by them.
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from 'bun:test';
import OpenAI from 'openai';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type ApiKeyCreate,
  bearer,
  createApiKey,
  createChat,
  expectError,
  expectStatus,
  getChat,
  httpOf,
  type Json,
  register,
  sendMessage,
  type Target,
  uniqueText,
} from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

/** POST /chat with `message` (echo unless told): one LLM call. */
const call = (target: Target, key: string, message: string, extra: Record<string, unknown> = {}) =>
  httpOf(target)('/api/v1/chat', { method: 'POST', headers: bearer(key), json: { message, provider: 'echo', ...extra } });
const patchKey = (target: Target, token: string, id: string, json: unknown) =>
  httpOf(target)(`/api/v1/auth/api-keys/${id}`, { method: 'PATCH', headers: bearer(token), json });

/** A 429's Retry-After in seconds, checked to be within (0, max]. */
function retryAfter(response: Response, max: number): number {
  const seconds = Number(response.headers.get('retry-after'));
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(max);
  return seconds;
}

async function newKey(target: Target, limits: Omit<ApiKeyCreate, 'name'>) {
  const account = await register(target);
  const key = await createApiKey(target, account.accessToken, { name: 'limited', ...limits });
  return { account, key };
}

for (const [name, kind] of kinds) {
  describe(`API key limits enforced on ${name}`, () => {
    let app: TestApp;
    let server: { stop: (force?: boolean) => unknown; port: number };
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
      server = app.app.listen({ port: 0, hostname: '127.0.0.1' }).server as unknown as typeof server;
    });
    afterAll(async () => {
      await server?.stop(true);
      await app?.close();
    });
    const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });

    test('security: a model the key does not allow is 403 on every door, before anything is stored or sent', async () => {
      const { account, key } = await newKey(app, { allowedModels: ['echo/*', 'openai/gpt-4*'] });
      await expectStatus(await call(app, key.key, 'fine'), 200);
      await expectStatus(await call(app, key.key, 'fine too', { provider: 'openai', model: 'gpt-4.1' }), 200);

      const text = uniqueText('not allowed');
      const refused = await expectError(
        await call(app, key.key, text, { provider: 'anthropic', model: 'claude-haiku-4-5' }),
        403,
        'forbidden',
      );
      expect(refused.error.message).toContain('anthropic/claude-haiku-4-5');
      // A model without a provider is the default provider's (openai here): gpt-5.5 is not gpt-4*.
      await expectError(await call(app, key.key, text, { provider: undefined, model: 'gpt-5.5' }), 403, 'forbidden');

      const chat = await createChat(app, key.key, { provider: 'anthropic', model: 'claude-haiku-4-5' });
      await expectError(await sendMessage(app, key.key, chat.id, { content: text, stream: false }), 403, 'forbidden');
      expect((await getChat(app, key.key, chat.id)).messages).toEqual([]);

      // /v1 (its error shape is the /v1 error mapper's): the SDK raises PermissionDeniedError.
      const error = await sdk(key.key)
        .chat.completions.create({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: text }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(JSON.stringify((error as InstanceType<typeof OpenAI.APIError>).error)).toContain('anthropic/claude-haiku-4-5');
      expect(upstreamCalls(fake, text)).toEqual([]);

      // The owner's own session is not the key: no limit.
      await expectStatus(await call(app, account.accessToken, text, { provider: 'anthropic', model: 'claude-haiku-4-5' }), 200);
      const usage = await expectStatus(
        await app.request(`/api/v1/auth/api-keys/${key.id}/usage`, { headers: bearer(account.accessToken) }),
        200,
      );
      expect(usage.totals.requests).toBe(2);
    });

    test('happy: a changed allow-list applies to the next call', async () => {
      const { account, key } = await newKey(app, { allowedModels: ['echo/echo'] });
      await expectError(await call(app, key.key, 'x', { provider: 'openai', model: 'gpt-4.1' }), 403, 'forbidden');
      await expectStatus(await patchKey(app, account.accessToken, key.id, { allowedModels: ['openai/*'] }), 200);
      await expectStatus(await call(app, key.key, 'x', { provider: 'openai', model: 'gpt-4.1' }), 200);
      await expectError(await call(app, key.key, 'x'), 403, 'forbidden');
      await expectStatus(await patchKey(app, account.accessToken, key.id, { allowedModels: null }), 200);
      await expectStatus(await call(app, key.key, 'x'), 200);
    });

    test('error: over its calls per minute a key is 429 with Retry-After; other keys and the session are not', async () => {
      const { account, key } = await newKey(app, { requestsPerMinute: 2 });
      const other = await createApiKey(app, account.accessToken, { name: 'other' });
      await expectStatus(await call(app, key.key, 'one'), 200);
      await expectStatus(await call(app, key.key, 'two'), 200);
      const text = uniqueText('third');
      const refused = await call(app, key.key, text, { provider: 'openai', model: 'gpt-4.1' });
      retryAfter(refused, 60);
      expect(refused.headers.get('ratelimit-limit')).toBe('2');
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect((await expectError(refused, 429, 'rate_limited')).error.message).toContain('2 LLM calls per minute');
      expect(upstreamCalls(fake, text)).toEqual([]);
      const error = await sdk(key.key)
        .chat.completions.create({ model: 'echo/echo', messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      await expectStatus(await call(app, other.key, 'other key'), 200);
      await expectStatus(await call(app, account.accessToken, 'session'), 200);
      // Refused calls were not counted: the key's usage holds the two admitted.
      const usage = await expectStatus(
        await app.request(`/api/v1/auth/api-keys/${key.id}/usage`, { headers: bearer(account.accessToken) }),
        200,
      );
      expect(usage.totals.requests).toBe(2);
      // Lifting the limit lets the next call through at once.
      await expectStatus(await patchKey(app, account.accessToken, key.id, { requestsPerMinute: null }), 200);
      await expectStatus(await call(app, key.key, 'free again'), 200);
    });

    test('error: over its tokens per minute a key is 429 until the minute ends (charged when each call ends)', async () => {
      const { key } = await newKey(app, { tokensPerMinute: 5 });
      // Echo counts words: 3 in, 3 out = 6 tokens, admitted while the minute's count (0) was under 5.
      await expectStatus(await call(app, key.key, 'one two three'), 200);
      const refused = await call(app, key.key, 'four');
      retryAfter(refused, 60);
      expect(refused.headers.get('ratelimit-limit')).toBe('5');
      expect((await expectError(refused, 429, 'rate_limited')).error.message).toContain('5 tokens per minute');
    });

    test('error: a spent monthly budget is 429 quota_exceeded until the 1st; raising it lets calls through at once', async () => {
      const { account, key } = await newKey(app, { monthlyTokenBudget: 10 });
      await expectStatus(await call(app, key.key, 'a b c'), 200); // 6 tokens
      await expectStatus(await call(app, key.key, 'd e'), 200); // 4 more: 10 used, the budget
      const refused = await call(app, key.key, 'f');
      const now = new Date();
      const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      expect(retryAfter(refused, 31 * 86_400)).toBeCloseTo((monthEnd - now.getTime()) / 1000, -1);
      const body = await expectError(refused, 429, 'quota_exceeded');
      expect(body.error.message).toContain('monthly token budget of 10 tokens');
      const usage = await expectStatus(
        await app.request(`/api/v1/auth/api-keys/${key.id}/usage`, { headers: bearer(account.accessToken) }),
        200,
      );
      expect(usage.month).toMatchObject({ used: 10, remaining: 0, resetsAt: new Date(monthEnd).toISOString() });
      expect(usage.limits.monthlyTokenBudget).toBe(10);
      await expectStatus(await patchKey(app, account.accessToken, key.id, { monthlyTokenBudget: 100 }), 200);
      await expectStatus(await call(app, key.key, 'f'), 200);
    });

    test('security: an expiry set with PATCH ends the key when it comes; moving it later revives it', async () => {
      const { account, key } = await newKey(app, {});
      const soon = Date.now() + 3_600_000;
      await expectStatus(await patchKey(app, account.accessToken, key.id, { expiresAt: new Date(soon).toISOString() }), 200);
      await expectStatus(await call(app, key.key, 'before'), 200);
      try {
        setSystemTime(new Date(soon + 1000));
        expect((await expectError(await call(app, key.key, 'after'), 401, 'unauthorized')).error.message).toContain('expired');
      } finally {
        setSystemTime();
      }
      await expectStatus(await call(app, key.key, 'before again'), 200);
    });
  });
}

describe.each(kinds)('API key limits beside the tier’s (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(
      kind,
      llmEnv(fake, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MAX_REQUESTS: '10000', RATELIMIT_PER_MINUTE: '3', RATELIMIT_PER_HOUR: '100' }),
    );
  });
  afterAll(() => app.close());

  test('error: the key’s own limit and the tier’s both hold; the first to be reached refuses, and a refused call counts in neither', async () => {
    const { account, key } = await newKey(app, { requestsPerMinute: 1 });
    await expectStatus(await call(app, key.key, 'one'), 200);
    expect((await expectError(await call(app, key.key, 'two'), 429, 'rate_limited')).error.message).toContain('API key');
    // The tier's minute (3) has counted one call: two more are admitted for the user, then its window refuses.
    await expectStatus(await call(app, account.accessToken, 'session one'), 200);
    await expectStatus(await call(app, account.accessToken, 'session two'), 200);
    const tier = await expectError(await call(app, account.accessToken, 'session three'), 429, 'rate_limited');
    expect(tier.error.message).toContain('perMinute');
  });
});

describe.if(hasPostgres && hasRedis)('API key limits across two instances on one Postgres and Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp({ database: 'postgres', kv: 'redis' }, llmEnv(fake));
    b = await createSecondInstance(a, llmEnv(fake));
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test('happy: calls per minute are exact: a burst over both instances admits exactly the limit', async () => {
    const { key } = await newKey(a, { requestsPerMinute: 5 });
    const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => call(i % 2 ? a : b, key.key, `burst ${i}`)));
    const statuses = responses.map((response) => response.status);
    await Promise.all(responses.map((response) => response.arrayBuffer()));
    expect(statuses.filter((status) => status === 200)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(7);
    expect((await call(a, key.key, 'late')).status).toBe(429);
    expect((await call(b, key.key, 'late')).status).toBe(429);
  });

  test('happy: tokens charged on one instance and the month’s budget are seen by the other at once', async () => {
    const tpm = await newKey(a, { tokensPerMinute: 5 });
    await expectStatus(await call(a, tpm.key.key, 'one two three'), 200);
    await expectError(await call(b, tpm.key.key, 'four'), 429, 'rate_limited');

    const budget = await newKey(a, { monthlyTokenBudget: 6 });
    await expectStatus(await call(b, budget.key.key, 'x y z'), 200);
    await expectError(await call(a, budget.key.key, 'more'), 429, 'quota_exceeded');
    // Raised on A, the next call on B is admitted.
    await expectStatus(await patchKey(a, budget.account.accessToken, budget.key.id, { monthlyTokenBudget: 1000 }), 200);
    await expectStatus(await call(b, budget.key.key, 'more'), 200);
    const usage: Json = await expectStatus(
      await b.request(`/api/v1/auth/api-keys/${budget.key.id}/usage`, { headers: bearer(budget.account.accessToken) }),
      200,
    );
    expect(usage.totals.requests).toBe(2);
    expect(usage.month).toMatchObject({ used: 8, remaining: 992 });
  });

  test('security: an allow-list changed on one instance holds on the other for the next call', async () => {
    const { account, key } = await newKey(a, {});
    await expectStatus(await call(b, key.key, 'open'), 200);
    await expectStatus(await patchKey(a, account.accessToken, key.id, { allowedModels: ['openai/gpt-4.1'] }), 200);
    await expectError(await call(b, key.key, 'closed'), 403, 'forbidden');
    await expectStatus(await call(b, key.key, 'allowed', { provider: 'openai', model: 'gpt-4.1' }), 200);
  });
});
