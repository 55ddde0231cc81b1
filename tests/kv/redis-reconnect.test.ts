// "When Redis drops, reconnect on its own, report degraded, never crash": the store talks to Redis
// through a TCP proxy the test can cut and restore on the same port (tests/helpers/tcp-proxy.ts).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { KvUnavailableError } from '../../src/infra/kv/errors.ts';
import { createRedisStore } from '../../src/infra/kv/redis.ts';
import type { KeyValueStore } from '../../src/infra/kv/types.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { createTestRedisPrefix, hasRedis, redisUrl } from '../helpers/services.ts';
import { freePort, startTcpProxy, type TcpProxy, targetOf } from '../helpers/tcp-proxy.ts';
import { waitFor } from './kv-suite.ts';

const upstream = targetOf(redisUrl, 6379);
const secret = 'kv-test-s3cret-Pa55';
// Reconnect attempts 20, 40, 60 ... ms apart, never more than 100 ms (production: 200 ms steps up to 2 s).
const retry = { retryStepMs: 20, maxRetryDelayMs: 100 };

const startProxy = (port?: number) => startTcpProxy(upstream, { port });

/** How a promise settled, and whether it did within `ms`. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'hung'> {
  return Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    Bun.sleep(ms).then(() => 'hung' as const),
  ]);
}

describe.if(hasRedis)('redis store when the connection drops', () => {
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);
  const originalWarn = console.warn;
  const openStores: KeyValueStore[] = [];
  const proxies: TcpProxy[] = [];
  const prefix = createTestRedisPrefix();

  beforeAll(() => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    // ioredis notes on the console that this test Redis needs no password; anything else goes through.
    console.warn = (...args: unknown[]) => {
      if (!String(args[0]).includes('password was supplied')) originalWarn(...args);
    };
  });
  afterAll(async () => {
    await Promise.allSettled(openStores.map((store) => store.close()));
    for (const proxy of proxies) proxy.close();
    console.warn = originalWarn;
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
    await prefix.cleanup();
  });

  const capture = () => {
    const lines: string[] = [];
    const entries = () => lines.map((line) => JSON.parse(line) as { level: string; msg: string; url?: string });
    return { lines, entries, log: createLogger('info', (line) => lines.push(line)) };
  };
  const proxyUrl = (port: number) => `redis://:${secret}@127.0.0.1:${port}`;
  const track = (store: KeyValueStore) => {
    openStores.push(store);
    return store;
  };

  test('error: reports degraded, fails fast, never crashes, and recovers with its subscriptions', async () => {
    const proxy = startProxy();
    proxies.push(proxy);
    const { port } = proxy;
    const { lines, entries, log } = capture();
    const store = track(await createRedisStore(proxyUrl(port), { prefix: prefix.prefix, log, connectTimeoutMs: 1000, ...retry }));
    expect(store.status()).toBe('ok');
    expect(proxy.stats.accepted).toBe(2); // commands and pub/sub
    await store.set('before', 'kept');
    const received: string[] = [];
    await store.subscribe('events', (message) => received.push(message));
    await store.publish('events', 'm0');
    await waitFor('message before the drop', () => received.length === 1);

    proxy.cut();
    await waitFor('status degraded', () => store.status() === 'degraded', 3000);

    for (const [what, call] of [
      ['get', () => store.get('before')],
      ['set', () => store.set('during', 'x')],
      ['consumeWindows', () => store.consumeWindows([{ key: 'rl', limit: 5, ttlMs: 1000 }])],
      ['publish', () => store.publish('events', 'lost')],
      ['streamAppend', () => store.streamAppend('s', { a: '1' })],
      ['subscribe', () => store.subscribe('other', () => {})],
      ['ping', () => store.ping()],
    ] as const) {
      const started = performance.now();
      const failure = await call().then(
        () => undefined,
        (error: unknown) => error,
      );
      // Typed, so the error handler answers 503 `unavailable` rather than 500.
      expect(`${what}: ${failure instanceof KvUnavailableError}`).toBe(`${what}: true`);
      expect(performance.now() - started).toBeLessThan(2000);
    }

    await waitFor('a warn log line', () => entries().some((entry) => entry.level === 'warn'), 3000);
    const warning = entries().find((entry) => entry.level === 'warn')!;
    expect(warning.msg).toContain('connection error');
    expect(warning.url).toBe(`redis://:***@127.0.0.1:${port}`);
    expect(lines.join('\n')).not.toContain(secret);
    await Bun.sleep(200); // keep failing for a while (several retries): they must not crash anything
    expect(store.status()).toBe('degraded');

    await proxy.restore();
    await waitFor('status ok again', () => store.status() === 'ok', 8000);
    expect(await store.get('before')).toBe('kept');
    expect(await store.set('after', 'v2')).toBe(true);
    expect(await store.get('after')).toBe('v2');
    expect(await store.get('during')).toBeNull();
    expect(typeof (await store.ping())).toBe('number');

    // The subscription made before the drop is restored by ioredis (autoResubscribe).
    for (let i = 0; !received.some((m) => m.startsWith('after-')); i++) {
      if (i >= 200) throw new Error(`no message after reconnecting; received ${JSON.stringify(received)}`);
      await store.publish('events', `after-${i}`);
      await Bun.sleep(25);
    }
    expect(received[0]).toBe('m0');
    expect(received).not.toContain('lost');
    expect(received.slice(1).every((m) => m.startsWith('after-'))).toBe(true);
    expect(entries().some((entry) => entry.level === 'info' && entry.msg.includes('reconnected'))).toBe(true);
    expect(lines.join('\n')).not.toContain(secret);

    await store.close();
    await waitFor('connections closed', () => proxy.openSockets() === 0, 2000);
    const accepted = proxy.stats.accepted;
    await Bun.sleep(retry.maxRetryDelayMs + 100); // longer than the longest retry delay
    expect(proxy.stats.accepted).toBe(accepted); // no reconnect after close
    expect(crashes).toEqual([]);
  }, 20_000);

  test('error: a store created while Redis is unreachable starts degraded and connects once it appears', async () => {
    const port = freePort();
    const { entries, lines, log } = capture();
    const started = performance.now();
    const store = track(await createRedisStore(proxyUrl(port), { prefix: prefix.prefix, log, connectTimeoutMs: 1000, ...retry }));
    expect(performance.now() - started).toBeLessThan(3000);
    expect(store.status()).toBe('degraded');
    expect(entries().some((entry) => entry.level === 'warn' && entry.msg.includes('starting degraded'))).toBe(true);
    expect(lines.join('\n')).not.toContain(secret);
    expect(await settleWithin(store.get('x'), 2000)).toBe('rejected');

    const proxy = startProxy(port);
    proxies.push(proxy);
    await waitFor('status ok', () => store.status() === 'ok', 8000);
    expect(await store.set('late', 'yes')).toBe(true);
    expect(await store.get('late')).toBe('yes');
    await store.close();
    await waitFor('connections closed', () => proxy.openSockets() === 0, 2000);
    expect(crashes).toEqual([]);
  }, 20_000);

  test('error: closing a degraded store stops its reconnect attempts', async () => {
    const port = freePort();
    const { log } = capture();
    const store = track(await createRedisStore(proxyUrl(port), { prefix: prefix.prefix, log, connectTimeoutMs: 1000, ...retry }));
    expect(store.status()).toBe('degraded');
    expect(await settleWithin(store.close(), 2000)).toBe('resolved');
    const proxy = startProxy(port);
    proxies.push(proxy);
    await Bun.sleep(retry.maxRetryDelayMs + 100); // longer than the longest retry delay
    expect(proxy.stats.accepted).toBe(0);
    expect(crashes).toEqual([]);
  }, 20_000);
});
