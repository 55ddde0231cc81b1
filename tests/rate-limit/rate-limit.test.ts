// The per-IP request limiter (src/http/rate-limit.ts) and the caller's address (src/http/client-ip.ts),
// driven through small Elysia apps made of the real error handler and throwaway routes. The
// counting behaviour runs on the memory store and on a real Redis.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { clientIp, normalizeIp } from '../../src/http/client-ip.ts';
import { errorHandler } from '../../src/http/error-handler.ts';
import { type RateLimitOptions, rateLimit, rateLimitHeaders, resetSeconds } from '../../src/http/rate-limit.ts';
import { createMemoryStore } from '../../src/infra/kv/memory.ts';
import { createRedisStore } from '../../src/infra/kv/redis.ts';
import type { KeyValueStore } from '../../src/infra/kv/types.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { createTestRedisPrefix, hasRedis, redisUrl } from '../helpers/services.ts';

type LogLine = Record<string, unknown>;

function capturingLogger() {
  const lines: LogLine[] = [];
  return { lines, log: createLogger('debug', (line) => lines.push(JSON.parse(line))) };
}

let nameCounter = 0;
/** A limiter name (hence key space) no other test uses, so tests can share one store. */
const uniqueName = (label: string) => `${label}-${++nameCounter}-${Math.random().toString(36).slice(2, 8)}`;

type Limiter = Partial<RateLimitOptions> & Pick<RateLimitOptions, 'kv'>;

function limiter(options: Limiter) {
  return rateLimit({
    name: uniqueName('general'),
    max: 3,
    windowMs: 60_000,
    enabled: true,
    trustProxy: false,
    log: capturingLogger().log,
    ...options,
  });
}

/** An app with the real error handler and one limited module at `/limited/*`. */
function limitedApp(options: Limiter) {
  const { log, lines } = capturingLogger();
  const module = new Elysia({ name: 'limited-module' })
    .use(limiter({ log, ...options }))
    .get('/limited/ping', () => ({ ok: true }))
    .post('/limited/echo', ({ body }) => body);
  const app = new Elysia().use(errorHandler(log)).use(module);
  return { app, lines, call: (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init)) };
}

const from = (ip: string, header = 'x-forwarded-for') => ({ headers: { [header]: ip } });

// biome-ignore lint: error bodies are inspected field by field
const readJson = (response: Response): Promise<any> => response.json();

function rateHeaders(response: Response) {
  return {
    limit: response.headers.get('ratelimit-limit'),
    remaining: response.headers.get('ratelimit-remaining'),
    reset: response.headers.get('ratelimit-reset'),
  };
}

/** What a limiter's window has counted: its counter, read as a plain value (0 when absent). */
async function counted(kv: KeyValueStore, key: string): Promise<number> {
  return Number((await kv.get(key)) ?? 0);
}

/** Stands in for an unreachable Redis: every operation rejects the way ioredis does. */
function unreachableStore(): KeyValueStore & { calls: number } {
  const store = {
    calls: 0,
    kind: 'redis' as const,
    status: () => 'degraded' as const,
    close: async () => {},
  };
  const fail = async (): Promise<never> => {
    store.calls++;
    throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
  };
  return Object.assign(store, {
    get: fail,
    set: fail,
    del: fail,
    exists: fail,
    incr: fail,
    consumeWindows: fail,
    peekWindows: fail,
    acquireLease: fail,
    renewLease: fail,
    releaseLease: fail,
    countLeases: fail,
    deleteMatching: fail,
    countMatching: fail,
    publish: fail,
    subscribe: fail,
    streamAppend: fail,
    streamRead: fail,
    streamLength: fail,
    ping: fail,
  });
}

describe('clientIp', () => {
  const server = (address: string | null) => ({ requestIP: () => (address === null ? null : { address }) });
  const request = (headers: Record<string, string> = {}) => new Request('http://localhost/', { headers });

  test('security: not trusting a proxy: the socket address, whatever the headers say', () => {
    const spoofed = request({ 'x-forwarded-for': '1.2.3.4', 'fly-client-ip': '5.6.7.8' });
    expect(clientIp(spoofed, server('10.0.0.9'), false)).toBe('10.0.0.9');
    expect(clientIp(spoofed, undefined, false)).toBe('unknown');
    expect(clientIp(spoofed, null, false)).toBe('unknown');
    expect(clientIp(spoofed, server(null), false)).toBe('unknown');
  });

  test('happy: trusting a proxy: Fly-Client-IP, then the first X-Forwarded-For address, then the socket', () => {
    expect(clientIp(request({ 'fly-client-ip': '5.6.7.8', 'x-forwarded-for': '1.2.3.4' }), server('10.0.0.9'), true)).toBe('5.6.7.8');
    expect(clientIp(request({ 'x-forwarded-for': ' 1.2.3.4 , 10.0.0.1, 10.0.0.2' }), server('10.0.0.9'), true)).toBe('1.2.3.4');
    expect(clientIp(request(), server('10.0.0.9'), true)).toBe('10.0.0.9');
    expect(clientIp(request(), undefined, true)).toBe('unknown');
  });

  test('security: header values that are not IP addresses are ignored', () => {
    const socket = server('10.0.0.9');
    expect(clientIp(request({ 'x-forwarded-for': 'evil, 1.2.3.4' }), socket, true)).toBe('10.0.0.9');
    expect(clientIp(request({ 'x-forwarded-for': '999.1.1.1' }), socket, true)).toBe('10.0.0.9');
    expect(clientIp(request({ 'x-forwarded-for': '1.2.3.4*' }), socket, true)).toBe('10.0.0.9');
    expect(clientIp(request({ 'fly-client-ip': 'localhost', 'x-forwarded-for': '1.2.3.4' }), socket, true)).toBe('1.2.3.4');
    expect(clientIp(request({ 'fly-client-ip': '', 'x-forwarded-for': '' }), socket, true)).toBe('10.0.0.9');
    expect(clientIp(request({ 'x-forwarded-for': `${'1'.repeat(200)}` }), socket, true)).toBe('10.0.0.9');
  });

  test('happy: IPv6, ports and IPv4-mapped addresses are normalised', () => {
    expect(clientIp(request({ 'x-forwarded-for': '2001:DB8::1' }), undefined, true)).toBe('2001:db8::1');
    expect(clientIp(request({ 'x-forwarded-for': '[2001:db8::1]:443' }), undefined, true)).toBe('2001:db8::1');
    expect(clientIp(request({ 'x-forwarded-for': '1.2.3.4:5678' }), undefined, true)).toBe('1.2.3.4');
    expect(clientIp(request(), server('::ffff:127.0.0.1'), false)).toBe('127.0.0.1');
    expect(normalizeIp('::1')).toBe('::1');
    expect(normalizeIp('1.2.3')).toBeNull();
    expect(normalizeIp('not an ip')).toBeNull();
    expect(normalizeIp(undefined)).toBeNull();
  });

  test('error: a server that cannot place the request gives unknown rather than an error', () => {
    const throwing = {
      requestIP: (): { address: string } | null => {
        throw new Error('not from this server');
      },
    };
    expect(clientIp(request(), throwing, false)).toBe('unknown');
  });
});

describe('rateLimitHeaders', () => {
  test('happy: limit, remaining (never negative) and reset in whole seconds rounded up', () => {
    expect(rateLimitHeaders({ remaining: 4, resetMs: 1001 }, 5)).toEqual({
      'ratelimit-limit': '5',
      'ratelimit-remaining': '4',
      'ratelimit-reset': '2',
    });
    expect(rateLimitHeaders({ remaining: -1, resetMs: 1000 }, 5)['ratelimit-remaining']).toBe('0');
    expect(resetSeconds(1)).toBe(1);
    expect(resetSeconds(0)).toBe(0);
    expect(resetSeconds(-5)).toBe(0);
  });
});

function countingSuite(label: string, open: () => Promise<{ kv: KeyValueStore; close: () => Promise<void> }>) {
  describe(`counting on ${label}`, () => {
    let kv: KeyValueStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ kv, close } = await open());
    });
    afterAll(async () => {
      await close();
    });

    test('security: max requests pass with RateLimit-* counting down; request max+1 is 429 rate_limited', async () => {
      const { call } = limitedApp({ kv, max: 3, windowMs: 60_000 });
      for (const expected of ['2', '1', '0']) {
        const response = await call('/limited/ping');
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ ok: true });
        expect(rateHeaders(response)).toEqual({ limit: '3', remaining: expected, reset: '60' });
      }
      const refused = await call('/limited/ping');
      expect(refused.status).toBe(429);
      const body = await readJson(refused);
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error.code).toBe('rate_limited');
      expect(body.error.message).toMatch(/^Too many requests, retry in \d+ s$/);
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(59);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(body.error.message).toBe(`Too many requests, retry in ${retryAfter} s`);
      const headers = rateHeaders(refused);
      expect(headers.limit).toBe('3');
      expect(headers.remaining).toBe('0');
      expect(Number(headers.reset)).toBe(retryAfter);
      // Still refused, and other methods on the same module share the budget.
      expect((await call('/limited/ping')).status).toBe(429);
      const post = await call('/limited/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expect(post.status).toBe(429);
    });

    test('security: a burst of concurrent requests lets exactly max through', async () => {
      const { call } = limitedApp({ kv, max: 5 });
      const responses = await Promise.all(Array.from({ length: 12 }, () => call('/limited/ping')));
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(5);
      expect(statuses.filter((status) => status === 429)).toHaveLength(7);
      const remaining = responses
        .filter((response) => response.status === 200)
        .map((response) => response.headers.get('ratelimit-remaining'))
        .sort();
      expect(remaining).toEqual(['0', '1', '2', '3', '4']);
    });

    test('happy: behind a trusted proxy, each forwarded IP has its own budget', async () => {
      const { call } = limitedApp({ kv, max: 2, trustProxy: true });
      expect((await call('/limited/ping', from('203.0.113.1'))).status).toBe(200);
      expect((await call('/limited/ping', from('203.0.113.1'))).status).toBe(200);
      expect((await call('/limited/ping', from('203.0.113.1'))).status).toBe(429);
      const other = await call('/limited/ping', from('203.0.113.2, 10.0.0.1'));
      expect(other.status).toBe(200);
      expect(other.headers.get('ratelimit-remaining')).toBe('1');
      // Fly-Client-IP is believed first.
      const fly = await call('/limited/ping', { headers: { 'fly-client-ip': '203.0.113.3', 'x-forwarded-for': '203.0.113.1' } });
      expect(fly.status).toBe(200);
      expect(fly.headers.get('ratelimit-remaining')).toBe('1');
    });

    test('security: without TRUST_PROXY, a spoofed X-Forwarded-For or Fly-Client-IP does not buy a new budget', async () => {
      const { call } = limitedApp({ kv, max: 2, trustProxy: false });
      expect((await call('/limited/ping', from('203.0.113.1'))).status).toBe(200);
      expect((await call('/limited/ping', from('203.0.113.2'))).status).toBe(200);
      expect((await call('/limited/ping', from('203.0.113.3'))).status).toBe(429);
      expect((await call('/limited/ping', from('203.0.113.4', 'fly-client-ip'))).status).toBe(429);
      expect((await call('/limited/ping')).status).toBe(429);
    });

    test('happy: the window resets after windowMs', async () => {
      const { call } = limitedApp({ kv, max: 2, windowMs: 300 });
      expect((await call('/limited/ping')).status).toBe(200);
      expect((await call('/limited/ping')).status).toBe(200);
      const refused = await call('/limited/ping');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.headers.get('ratelimit-reset')).toBe('1');
      await Bun.sleep(400);
      const again = await call('/limited/ping');
      expect(again.status).toBe(200);
      expect(again.headers.get('ratelimit-remaining')).toBe('1');
    });

    test('error: one limiter with two budgets (auth with general): a request refused by either is charged to neither; the tighter shows', async () => {
      const { log } = capturingLogger();
      const general = { name: uniqueName('general'), max: 4, windowMs: 60_000 };
      const auth = uniqueName('auth');
      const authModule = new Elysia({ name: 'auth-module' })
        .use(rateLimit({ kv, log, name: auth, max: 2, windowMs: 60_000, with: [general], enabled: true, trustProxy: false }))
        .post('/auth/login', () => ({ ok: true }));
      const chatModule = new Elysia({ name: 'chat-module' })
        .use(rateLimit({ kv, log, ...general, enabled: true, trustProxy: false }))
        .get('/chats', () => ({ data: [] }));
      const app = new Elysia().use(errorHandler(log)).use(authModule).use(chatModule);
      const call = (path: string, method = 'GET') => app.handle(new Request(`http://localhost${path}`, { method }));
      const counts = async () => ({
        general: await counted(kv, `ratelimit:${general.name}:unknown`),
        auth: await counted(kv, `ratelimit:${auth}:unknown`),
      });

      const first = await call('/auth/login', 'POST');
      expect(first.status).toBe(200);
      expect(rateHeaders(first)).toMatchObject({ limit: '2', remaining: '1' });
      expect((await call('/auth/login', 'POST')).status).toBe(200);
      expect(await counts()).toEqual({ general: 2, auth: 2 });
      for (let i = 0; i < 3; i++) {
        const refusedByAuth = await call('/auth/login', 'POST');
        expect(refusedByAuth.status).toBe(429);
        expect(rateHeaders(refusedByAuth)).toMatchObject({ limit: '2', remaining: '0' });
      }
      // The refused logins cost the general budget (shared with /chats) nothing.
      expect(await counts()).toEqual({ general: 2, auth: 2 });
      const chats = await call('/chats');
      expect(chats.status).toBe(200);
      expect(rateHeaders(chats)).toMatchObject({ limit: '4', remaining: '1' });
      expect((await call('/chats')).status).toBe(200);
      const refusedByGeneral = await call('/chats');
      expect(refusedByGeneral.status).toBe(429);
      expect(rateHeaders(refusedByGeneral)).toMatchObject({ limit: '4', remaining: '0' });
      expect(await counts()).toEqual({ general: 4, auth: 2 });
    });

    test('error: a request refused by the general budget is charged nothing to the auth budget', async () => {
      const { log } = capturingLogger();
      const general = { name: uniqueName('general'), max: 2, windowMs: 60_000 };
      const auth = uniqueName('auth');
      const app = new Elysia()
        .use(errorHandler(log))
        .use(
          new Elysia({ name: 'auth-module' })
            .use(rateLimit({ kv, log, name: auth, max: 5, windowMs: 120_000, with: [general], enabled: true, trustProxy: false }))
            .post('/auth/login', () => ({ ok: true })),
        );
      const login = () => app.handle(new Request('http://localhost/auth/login', { method: 'POST' }));
      expect((await login()).status).toBe(200);
      const second = await login();
      expect(second.status).toBe(200);
      // The general budget is closer to refusing (0 left against 3), so it is the one shown.
      expect(rateHeaders(second)).toMatchObject({ limit: '2', remaining: '0' });
      for (let i = 0; i < 4; i++) {
        const refused = await login();
        expect(refused.status).toBe(429);
        expect(rateHeaders(refused)).toMatchObject({ limit: '2', remaining: '0' });
        expect(Number(refused.headers.get('retry-after'))).toBeWithin(59, 61);
      }
      expect(await counted(kv, `ratelimit:${auth}:unknown`)).toBe(2);
      expect(await counted(kv, `ratelimit:${general.name}:unknown`)).toBe(2);
    });

    test('security: concurrent requests on a two-budget limiter admit exactly the tighter budget, and charge the other exactly that', async () => {
      const { log } = capturingLogger();
      const general = { name: uniqueName('general'), max: 100, windowMs: 60_000 };
      const auth = uniqueName('auth');
      const app = new Elysia()
        .use(errorHandler(log))
        .use(
          new Elysia({ name: 'auth-module' })
            .use(rateLimit({ kv, log, name: auth, max: 5, windowMs: 60_000, with: [general], enabled: true, trustProxy: false }))
            .post('/auth/login', () => ({ ok: true })),
        );
      const responses = await Promise.all(
        Array.from({ length: 30 }, () => app.handle(new Request('http://localhost/auth/login', { method: 'POST' }))),
      );
      expect(responses.filter((response) => response.status === 200)).toHaveLength(5);
      expect(responses.filter((response) => response.status === 429)).toHaveLength(25);
      expect(await counted(kv, `ratelimit:${general.name}:unknown`)).toBe(5);
      expect(await counted(kv, `ratelimit:${auth}:unknown`)).toBe(5);
    });

    test('error: a refused request is not counted in its own window either', async () => {
      const name = uniqueName('refused');
      const { call } = limitedApp({ kv, name, max: 2 });
      for (let i = 0; i < 6; i++) await call('/limited/ping');
      expect(await counted(kv, `ratelimit:${name}:unknown`)).toBe(2);
    });

    test('happy: counts under ratelimit:<name>:<ip>', async () => {
      const name = uniqueName('keyed');
      const { call } = limitedApp({ kv, name, max: 5, trustProxy: true });
      await call('/limited/ping', from('198.51.100.7'));
      await call('/limited/ping', from('198.51.100.7'));
      expect(await counted(kv, `ratelimit:${name}:198.51.100.7`)).toBe(2);
    });
  });
}

countingSuite('the memory store', async () => {
  const kv = createMemoryStore();
  return { kv, close: () => kv.close() };
});

describe.if(hasRedis)('on Redis', () => {
  countingSuite('Redis', async () => {
    const { prefix, cleanup } = createTestRedisPrefix();
    const kv = await createRedisStore(redisUrl, { prefix, log: capturingLogger().log });
    return {
      kv,
      close: async () => {
        await kv.close();
        await cleanup();
      },
    };
  });
});

describe('scope and switches', () => {
  test('happy: disabled: no headers and no limit', async () => {
    const kv = createMemoryStore();
    const { call } = limitedApp({ kv, max: 1, enabled: false });
    for (let i = 0; i < 5; i++) {
      const response = await call('/limited/ping');
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit-limit')).toBeNull();
      expect(response.headers.get('ratelimit-remaining')).toBeNull();
    }
    expect(await kv.countMatching('ratelimit:*')).toBe(0);
  });

  test('happy: routes of a sibling module, and of the parent app, are not limited', async () => {
    const kv = createMemoryStore();
    const { log } = capturingLogger();
    const limited = new Elysia({ name: 'limited' }).use(limiter({ kv, max: 1 })).get('/limited', () => 'limited');
    const sibling = new Elysia({ name: 'sibling' }).get('/sibling', () => 'sibling');
    const app = new Elysia()
      .use(errorHandler(log))
      .get('/before', () => 'before')
      .use(limited)
      .use(sibling)
      .get('/after', () => 'after');
    const call = (path: string) => app.handle(new Request(`http://localhost${path}`));

    expect((await call('/limited')).status).toBe(200);
    expect((await call('/limited')).status).toBe(429);
    for (const path of ['/sibling', '/before', '/after']) {
      for (let i = 0; i < 3; i++) {
        const response = await call(path);
        expect(response.status).toBe(200);
        expect(response.headers.get('ratelimit-limit')).toBeNull();
      }
    }
    // Unmatched paths are not counted either (no route, no hook).
    expect((await call('/nowhere')).status).toBe(404);
  });

  test('error: two limiters stacked on one route are reported (once), since they charge one after the other', async () => {
    const kv = createMemoryStore();
    const { log, lines } = capturingLogger();
    const app = new Elysia().use(errorHandler(log)).use(
      new Elysia({ name: 'stacked' })
        .use(limiter({ kv, log, name: uniqueName('outer'), max: 10 }))
        .use(limiter({ kv, log, name: uniqueName('inner'), max: 10 }))
        .get('/stacked', () => 'ok'),
    );
    for (let i = 0; i < 3; i++) expect((await app.handle(new Request('http://localhost/stacked'))).status).toBe(200);
    expect(lines.filter((line) => String(line.msg).startsWith('rate limiters stacked on one route'))).toHaveLength(1);
  });

  test('error: a limiter given the same budget twice is refused when it is built', () => {
    const kv = createMemoryStore();
    const budget = { name: 'twice', max: 1, windowMs: 1000 };
    expect(() => limiter({ kv, ...budget, with: [budget] })).toThrow(/distinct/);
  });

  test('error: an unreachable store lets requests through and warns at most once a minute', async () => {
    const kv = unreachableStore();
    const { call, lines } = limitedApp({ kv, max: 1 });
    for (let i = 0; i < 5; i++) {
      const response = await call('/limited/ping');
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit-limit')).toBeNull();
    }
    expect(kv.calls).toBe(5);
    const warnings = lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toBe('rate limit store unavailable: letting requests through');
    expect(lines.filter((line) => line.level === 'error')).toHaveLength(0);
  });

  test('error: a real Redis client that cannot connect fails open too', async () => {
    const { log, lines } = capturingLogger();
    // Nothing listens on port 1: the store starts degraded and commands fail fast.
    const kv = await createRedisStore('redis://127.0.0.1:1', { prefix: 'unused:', log, connectTimeoutMs: 500 });
    try {
      const { call } = limitedApp({ kv, max: 1, log });
      for (let i = 0; i < 3; i++) expect((await call('/limited/ping')).status).toBe(200);
      expect(lines.filter((line) => line.msg === 'rate limit store unavailable: letting requests through')).toHaveLength(1);
    } finally {
      await kv.close();
    }
  });
});

describe('over a real socket', () => {
  test('security: the socket address is the key when no proxy is trusted', async () => {
    const kv = createMemoryStore();
    const { log } = capturingLogger();
    const name = uniqueName('socket');
    const module = new Elysia({ name: 'socket-module' })
      .use(rateLimit({ kv, log, name, max: 2, windowMs: 60_000, enabled: true, trustProxy: false }))
      .get('/whoami', ({ request, server }) => ({ ip: clientIp(request, server, false) }));
    const app = new Elysia().use(errorHandler(log)).use(module).listen({ port: 0, hostname: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${app.server?.port}`;
      const first = await fetch(`${base}/whoami`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ ip: '127.0.0.1' });
      expect(first.headers.get('ratelimit-remaining')).toBe('1');
      expect(await counted(kv, `ratelimit:${name}:127.0.0.1`)).toBe(1);
      expect(await counted(kv, `ratelimit:${name}:unknown`)).toBe(0);
      expect((await fetch(`${base}/whoami`, { headers: { 'x-forwarded-for': '203.0.113.10' } })).status).toBe(200);
      const refused = await fetch(`${base}/whoami`);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBeTruthy();
      expect((await readJson(refused)).error.code).toBe('rate_limited');
    } finally {
      await app.stop(true);
    }
  });
});
