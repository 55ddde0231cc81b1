// Tiers (issue 12, "Cache and quotas" point 2): the LLM windows and the monthly token budget of
// the caller's tier (guests by role), through the public API on every storage kind; a tier change
// made on one instance applies at once on another; per-IP budgets are per IPv6 /64.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { ConfigError, type Env, parseConfig } from '../../src/config/index.ts';
import { ipBudgetKey } from '../../src/http/client-ip.ts';
import { callerSubject } from '../../src/http/rate-limit.ts';
import { nextMonthStart } from '../../src/modules/replies/limits.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  adminKey,
  adminPatchUser,
  createChat,
  expectError,
  getChat,
  guest,
  rateLimit,
  register,
  sendMessage,
  statelessChat,
} from '../helpers/client.ts';

const tierEnv: Env = {
  ADMIN_API_KEY: adminKey,
  RATE_LIMIT_ENABLED: 'true',
  RATE_LIMIT_MAX_REQUESTS: '10000',
  TIER_LIMITS_GUEST: 'minute=1,hour=10,day=10',
  TIER_LIMITS_FREE: 'minute=2,hour=100,day=500',
  TIER_LIMITS_PRO: 'minute=4,hour=0',
};

/** Statuses of `count` stateless calls, one after the other. */
async function calls(app: TestApp, token: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await statelessChat(app, token);
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  return statuses;
}

describe('tier limits in config', () => {
  test('happy: free defaults to RATELIMIT_PER_*, guest lower, pro and enterprise higher; a spec overrides only its keys', () => {
    const tiers = parseConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), TIER_LIMITS_PRO: 'tokens=0, day=9000' }).rateLimit.tiers;
    expect(tiers.free).toEqual({
      perMinute: 10,
      perHour: 100,
      perDay: 500,
      tokensPerMonth: 1_000_000,
      concurrentReplies: 5,
      storageBytes: 100 * 1024 * 1024,
    });
    expect(tiers.guest.perMinute).toBeLessThan(tiers.free.perMinute);
    expect(tiers.guest.tokensPerMonth).toBeLessThan(tiers.free.tokensPerMonth);
    expect(tiers.pro).toEqual({
      perMinute: 50,
      perHour: 500,
      perDay: 9000,
      tokensPerMonth: 0,
      concurrentReplies: 20,
      storageBytes: 1024 ** 3,
    });
    expect(tiers.enterprise.perMinute).toBeGreaterThan(tiers.pro.perMinute);
  });

  test('error: a bad spec is refused with one line naming the variable', () => {
    for (const spec of ['minute=ten', 'seconds=5', 'minute=1,minute=2', 'minute', 'minute=-1']) {
      expect(() => parseConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), TIER_LIMITS_FREE: spec })).toThrow(ConfigError);
      expect(() => parseConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), TIER_LIMITS_FREE: spec })).toThrow(/TIER_LIMITS_FREE/);
    }
  });
});

describe('the budget key of an address', () => {
  test('security: IPv4 per address, IPv6 per /64, however it is written', () => {
    expect(ipBudgetKey('1.2.3.4')).toBe('1.2.3.4');
    expect(ipBudgetKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(ipBudgetKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipBudgetKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(ipBudgetKey('::1')).toBe('0:0:0:0::/64');
    expect(ipBudgetKey('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(ipBudgetKey('unknown')).toBe('unknown');
    expect(callerSubject({ id: 'g', role: 'guest' }, '2001:db8:1:2::9')).toBe(
      callerSubject({ id: 'h', role: 'guest' }, '2001:db8:1:2:a::1'),
    );
  });
});

for (const [name, kind] of kinds) {
  describe(`tiers on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, tierEnv);
    });
    afterAll(() => app.close());

    test('happy: a pro user gets more calls than a free user, a guest fewer; GET /rate-limit shows the tier and its windows', async () => {
      const free = await register(app);
      const pro = await register(app);
      await adminPatchUser(app, pro.userId, { tier: 'pro' });
      const visitor = await guest(app);

      expect(await calls(app, free.accessToken, 3)).toEqual([200, 200, 429]);
      expect(await calls(app, pro.accessToken, 5)).toEqual([200, 200, 200, 200, 429]);
      expect(await calls(app, visitor.accessToken, 2)).toEqual([200, 429]);

      const freeStatus = await rateLimit(app, free.accessToken);
      expect(freeStatus.tier).toBe('free');
      expect(freeStatus.limits).toEqual({ perMinute: 2, perHour: 100, perDay: 500 });
      expect(freeStatus.remaining).toEqual({ perMinute: 0, perHour: 98, perDay: 498 });
      const proStatus = await rateLimit(app, pro.accessToken);
      expect(proStatus.tier).toBe('pro');
      // hour=0: unlimited, not counted.
      expect(proStatus.limits.perHour).toBe(0);
      expect(proStatus.remaining.perHour).toBeNull();
      expect(proStatus.remaining.perMinute).toBe(0);
      expect((await rateLimit(app, visitor.accessToken)).tier).toBe('guest');
    });
  });

  describe(`monthly token budget on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...tierEnv, TIER_LIMITS_FREE: 'minute=10,hour=100,day=500,tokens=1' });
    });
    afterAll(() => app.close());

    test('error: over the budget a message is 429 quota_exceeded with Retry-After to the 1st; nothing is stored or counted; GET /rate-limit shows when it resets', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken);
      const first = await sendMessage(app, account.accessToken, chat.id, { content: 'one', stream: false });
      expect(first.status).toBe(200);
      await first.arrayBuffer();

      const before = await rateLimit(app, account.accessToken);
      expect(before.tokens.limit).toBe(1);
      expect(before.tokens.used).toBeGreaterThanOrEqual(1);
      expect(before.tokens.remaining).toBe(0);
      const resetsAt = nextMonthStart().toISOString();
      expect(before.tokens.resetsAt).toBe(resetsAt);

      const refused = await sendMessage(app, account.accessToken, chat.id, { content: 'refused', stream: false });
      const body = await expectError(refused, 429, 'quota_exceeded');
      expect(body.error.message).toContain(resetsAt);
      const retryAfter = Number(refused.headers.get('retry-after'));
      const untilReset = Math.ceil((Date.parse(resetsAt) - Date.now()) / 1000);
      expect(retryAfter).toBeWithin(untilReset - 5, untilReset + 5);
      await expectError(await statelessChat(app, account.accessToken), 429, 'quota_exceeded');

      const stored = await getChat(app, account.accessToken, chat.id);
      expect(stored.messages.map((m) => `${m.role}:${m.content}`)).toEqual(['user:one', 'assistant:one']);
      const after = await rateLimit(app, account.accessToken);
      expect(after.remaining).toEqual(before.remaining);
      expect(after.tokens).toEqual(before.tokens);
    });
  });

  if (kind.kv === 'redis') {
    describe(`tier change across instances on ${name}`, () => {
      let a: TestApp;
      let b: TestApp;
      beforeAll(async () => {
        a = await createTestApp(kind, tierEnv);
        b = await createSecondInstance(a, tierEnv);
      });
      afterAll(async () => {
        await b.close();
        await a.close();
      });

      test('security: a tier changed by an admin on instance B applies to the next call on instance A, both ways', async () => {
        const account = await register(a);
        expect(await calls(a, account.accessToken, 3)).toEqual([200, 200, 429]);
        await adminPatchUser(b, account.userId, { tier: 'pro' });
        expect(await calls(a, account.accessToken, 3)).toEqual([200, 200, 429]);
        expect((await rateLimit(a, account.accessToken)).tier).toBe('pro');
        await adminPatchUser(b, account.userId, { tier: 'free' });
        expect(await calls(a, account.accessToken, 1)).toEqual([429]);
        expect((await rateLimit(a, account.accessToken)).limits.perMinute).toBe(2);
      });
    });
  }

  describe(`per-IP budgets per IPv6 /64 on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MAX_REQUESTS: '2', TRUST_PROXY: 'true' });
    });
    afterAll(() => app.close());
    const featured = (ip: string) => app.request('/api/v1/chats/featured', { headers: { 'x-forwarded-for': ip } });

    test('security: addresses in one /64 share a budget, another /64 and IPv4 addresses have their own', async () => {
      expect((await featured('2001:db8:aa:1::1')).status).toBe(200);
      expect((await featured('2001:db8:aa:1:ffff::2')).status).toBe(200);
      await expectError(await featured('2001:db8:aa:1::3'), 429, 'rate_limited');
      expect((await featured('2001:db8:aa:2::1')).status).toBe(200);
      expect((await featured('198.51.100.7')).status).toBe(200);
      expect((await featured('198.51.100.7')).status).toBe(200);
      expect((await featured('198.51.100.8')).status).toBe(200);
    });
  });
}
