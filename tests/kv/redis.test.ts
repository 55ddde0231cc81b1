import { describe, expect, test } from 'bun:test';
import Redis from 'ioredis';
import { createRedisStore } from '../../src/infra/kv/redis.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { createTestRedisPrefix, hasRedis, redisUrl } from '../helpers/services.ts';
import { runKeyValueSuite } from './kv-suite.ts';

const logLines: string[] = [];
const log = createLogger('warn', (line) => logLines.push(line));

async function openRedis() {
  const { prefix, cleanup } = createTestRedisPrefix();
  return { store: await createRedisStore(redisUrl, { prefix, log }), cleanup, prefix };
}

if (hasRedis) runKeyValueSuite('Redis (ioredis)', openRedis);

describe.if(hasRedis)('redis store specifics', () => {
  test('happy: kind is redis; keys, streams and channels live under the prefix', async () => {
    const { store, cleanup, prefix } = await openRedis();
    const raw = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const rawSub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      expect(store.kind).toBe('redis');
      await store.set('plain', 'v');
      await store.streamAppend('events', { a: '1' });
      expect(await raw.get(`${prefix}plain`)).toBe('v');
      expect(await raw.get('plain')).toBeNull();
      expect(await raw.xlen(`${prefix}events`)).toBe(1);
      const scanned = await raw.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 1000);
      expect(scanned[1].toSorted()).toEqual([`${prefix}events`, `${prefix}plain`]);

      const received: string[] = [];
      await rawSub.subscribe(`${prefix}ch`);
      rawSub.on('message', (channel: string, message: string) => received.push(`${channel}=${message}`));
      await store.publish('ch', 'hello');
      const deadline = Date.now() + 3000;
      while (received.length === 0 && Date.now() < deadline) await Bun.sleep(10);
      expect(received).toEqual([`${prefix}ch=hello`]);
    } finally {
      raw.disconnect();
      rawSub.disconnect();
      await store.close();
      await cleanup();
    }
  });

  test('happy: a healthy store logs no warnings: connect, use, subscribe and close one on its own', async () => {
    const lines: string[] = [];
    const { prefix, cleanup } = createTestRedisPrefix();
    const store = await createRedisStore(redisUrl, { prefix, log: createLogger('warn', (line) => lines.push(line)) });
    try {
      await store.set('k', 'v');
      const unsubscribe = await store.subscribe('ch', () => undefined);
      await store.publish('ch', 'hello');
      await unsubscribe();
      expect(store.status()).toBe('ok');
    } finally {
      await store.close();
      await cleanup();
    }
    expect(lines).toEqual([]);
  });
});
