// One key-value conformance suite, run on the in-memory store and on Redis (memory.test.ts,
// redis.test.ts): every KeyValueStore method must behave the same on both.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { KeyValueStore } from '../../src/infra/kv/types.ts';

export type OpenStore = () => Promise<{ store: KeyValueStore; cleanup: () => Promise<void> }>;

/** Polls until `check` is true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** `ms-seq` stream ids compared numerically (independently of the implementation's helper). */
function streamIdOrder(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split('-').map(BigInt);
  const [bMs = 0n, bSeq = 0n] = b.split('-').map(BigInt);
  return aMs === bMs ? Number(aSeq - bSeq) : Number(aMs - bMs);
}

export function runKeyValueSuite(name: string, open: OpenStore) {
  describe(`key-value store on ${name}`, () => {
    let store: KeyValueStore;
    let cleanup: () => Promise<void>;
    let counter = 0;
    /** A key namespace of its own for each test (no glob characters in it). */
    const ns = (label: string) => `${label}-${++counter}-${Math.random().toString(36).slice(2, 8)}:`;

    beforeAll(async () => {
      ({ store, cleanup } = await open());
    });
    afterAll(async () => {
      await store.close();
      await cleanup();
    });

    describe('get / set', () => {
      test('a missing key reads as null; a set value reads back exactly', async () => {
        const k = ns('get');
        expect(await store.get(`${k}missing`)).toBeNull();
        expect(await store.set(`${k}a`, 'héllo wörld ✓ {"json":true}')).toBe(true);
        expect(await store.get(`${k}a`)).toBe('héllo wörld ✓ {"json":true}');
        expect(await store.set(`${k}empty`, '')).toBe(true);
        expect(await store.get(`${k}empty`)).toBe('');
        expect(await store.exists(`${k}empty`)).toBe(true);
      });

      test('ttlMs expires the value', async () => {
        const k = ns('set-ttl');
        expect(await store.set(`${k}a`, 'v', { ttlMs: 80 })).toBe(true);
        expect(await store.get(`${k}a`)).toBe('v');
        await Bun.sleep(160);
        expect(await store.get(`${k}a`)).toBeNull();
        expect(await store.exists(`${k}a`)).toBe(false);
      });

      test('onlyIfAbsent sets a missing key and refuses an existing one, leaving its expiry alone', async () => {
        const k = ns('nx');
        expect(await store.set(`${k}a`, 'first', { onlyIfAbsent: true })).toBe(true);
        expect(await store.set(`${k}a`, 'second', { onlyIfAbsent: true })).toBe(false);
        expect(await store.get(`${k}a`)).toBe('first');
        // A refused set must not give the existing key the expiry it asked for.
        expect(await store.set(`${k}a`, 'third', { onlyIfAbsent: true, ttlMs: 80 })).toBe(false);
        await Bun.sleep(160);
        expect(await store.get(`${k}a`)).toBe('first');
        expect(await store.set(`${k}a`, 'fourth', { onlyIfAbsent: false })).toBe(true);
        expect(await store.get(`${k}a`)).toBe('fourth');
      });

      test('onlyIfAbsent succeeds again once the key has expired', async () => {
        const k = ns('nx-ttl');
        expect(await store.set(`${k}lock`, 'a', { onlyIfAbsent: true, ttlMs: 80 })).toBe(true);
        expect(await store.set(`${k}lock`, 'b', { onlyIfAbsent: true, ttlMs: 80 })).toBe(false);
        await Bun.sleep(160);
        expect(await store.set(`${k}lock`, 'c', { onlyIfAbsent: true })).toBe(true);
        expect(await store.get(`${k}lock`)).toBe('c');
      });

      test('a plain set replaces the value and removes an earlier expiry', async () => {
        const k = ns('set-clear');
        await store.set(`${k}a`, 'v1', { ttlMs: 80 });
        expect(await store.set(`${k}a`, 'v2')).toBe(true);
        expect(await store.get(`${k}a`)).toBe('v2');
        await Bun.sleep(160);
        expect(await store.get(`${k}a`)).toBe('v2');
      });
    });

    describe('del / exists', () => {
      test('del returns how many of the keys existed', async () => {
        const k = ns('del');
        for (const [key, value] of [
          ['a', '1'],
          ['b', '2'],
          ['c', '3'],
        ] as const)
          await store.set(`${k}${key}`, value);
        expect(await store.del(`${k}a`, `${k}b`, `${k}missing`)).toBe(2);
        expect(await store.exists(`${k}a`)).toBe(false);
        expect(await store.exists(`${k}b`)).toBe(false);
        expect(await store.get(`${k}c`)).toBe('3');
        expect(await store.del(`${k}a`)).toBe(0);
        expect(await store.del()).toBe(0);
        expect(await store.del(`${k}c`, `${k}c`)).toBe(1);
      });

      test('exists is true for values, counters and streams, false otherwise', async () => {
        const k = ns('exists');
        expect(await store.exists(`${k}value`)).toBe(false);
        await store.set(`${k}value`, 'x');
        await store.incr(`${k}counter`);
        await store.streamAppend(`${k}stream`, { a: '1' });
        for (const key of ['value', 'counter', 'stream']) expect(await store.exists(`${k}${key}`)).toBe(true);
      });
    });

    describe('incr', () => {
      test('starts from 0, adds `by` (negative too) and is readable with get', async () => {
        const k = ns('incr');
        expect(await store.incr(`${k}n`)).toBe(1);
        expect(await store.incr(`${k}n`)).toBe(2);
        expect(await store.incr(`${k}n`, { by: 5 })).toBe(7);
        expect(await store.incr(`${k}n`, { by: -10 })).toBe(-3);
        expect(await store.get(`${k}n`)).toBe('-3');
        await store.set(`${k}s`, '40');
        expect(await store.incr(`${k}s`, { by: 2 })).toBe(42);
      });

      test('ttlMs is set on creation only, never reset or added by later incr', async () => {
        const k = ns('incr-ttl');
        expect(await store.incr(`${k}n`, { ttlMs: 120 })).toBe(1);
        await Bun.sleep(40);
        // A later, longer ttlMs does not extend the window: the counter still ends 120 ms after creation.
        expect(await store.incr(`${k}n`, { ttlMs: 60_000 })).toBe(2);
        await Bun.sleep(140);
        expect(await store.get(`${k}n`)).toBeNull();
        expect(await store.exists(`${k}n`)).toBe(false);

        // Created again without ttlMs: no expiry, and a later ttlMs does not add one.
        expect(await store.incr(`${k}n`, { by: 3 })).toBe(3);
        expect(await store.incr(`${k}n`, { ttlMs: 80 })).toBe(4);
        await Bun.sleep(160);
        expect(await store.get(`${k}n`)).toBe('4');
      });

      test('concurrent increments are all counted', async () => {
        const k = ns('incr-many');
        const results = await Promise.all(Array.from({ length: 40 }, () => store.incr(`${k}n`)));
        expect(results.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(await store.get(`${k}n`)).toBe('40');
      });
    });

    describe('rate limits', () => {
      test('counts hits; allowed flips exactly after the limit; remaining and resetMs follow', async () => {
        const k = ns('rl');
        const hits = [];
        for (let i = 0; i < 5; i++) hits.push(await store.hitRateLimit(`${k}ip`, 3, 10_000));
        expect(hits.map((h) => h.count)).toEqual([1, 2, 3, 4, 5]);
        expect(hits.map((h) => h.allowed)).toEqual([true, true, true, false, false]);
        expect(hits.map((h) => h.remaining)).toEqual([2, 1, 0, 0, 0]);
        for (const hit of hits) expect(hit.resetMs).toBeWithin(9_000, 10_001);
      });

      test('the window resets once it has expired', async () => {
        const k = ns('rl-window');
        expect((await store.hitRateLimit(`${k}ip`, 1, 120)).allowed).toBe(true);
        const blocked = await store.hitRateLimit(`${k}ip`, 1, 120);
        expect(blocked).toMatchObject({ allowed: false, count: 2, remaining: 0 });
        expect(blocked.resetMs).toBeLessThanOrEqual(120);
        await Bun.sleep(200);
        expect(await store.hitRateLimit(`${k}ip`, 1, 120)).toMatchObject({ allowed: true, count: 1, remaining: 0 });
      });

      test('later hits do not extend the window', async () => {
        const k = ns('rl-fixed');
        await store.hitRateLimit(`${k}ip`, 100, 300);
        await Bun.sleep(120);
        const later = await store.hitRateLimit(`${k}ip`, 100, 300);
        expect(later.count).toBe(2);
        expect(later.resetMs).toBeWithin(1, 201);
      });

      test('concurrent hits are counted exactly: 50 at once with limit 10 allow exactly 10', async () => {
        const k = ns('rl-race');
        const hits = await Promise.all(Array.from({ length: 50 }, () => store.hitRateLimit(`${k}ip`, 10, 10_000)));
        expect(hits.filter((h) => h.allowed)).toHaveLength(10);
        expect(hits.map((h) => h.count).toSorted((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        for (const hit of hits) expect(hit.allowed).toBe(hit.count <= 10);
        expect((await store.peekRateLimit(`${k}ip`, 10, 10_000)).count).toBe(50);
      });

      test('peekRateLimit reads the window without counting', async () => {
        const k = ns('rl-peek');
        const empty = await store.peekRateLimit(`${k}ip`, 2, 5_000);
        expect(empty).toEqual({ allowed: true, count: 0, remaining: 2, resetMs: 5_000 });
        expect(await store.exists(`${k}ip`)).toBe(false);
        await store.hitRateLimit(`${k}ip`, 2, 5_000);
        for (let i = 0; i < 3; i++) {
          const peek = await store.peekRateLimit(`${k}ip`, 2, 5_000);
          expect(peek).toMatchObject({ allowed: true, count: 1, remaining: 1 });
          expect(peek.resetMs).toBeWithin(4_000, 5_001);
        }
        await store.hitRateLimit(`${k}ip`, 2, 5_000);
        await store.hitRateLimit(`${k}ip`, 2, 5_000);
        expect(await store.peekRateLimit(`${k}ip`, 2, 5_000)).toMatchObject({ allowed: false, count: 3, remaining: 0 });
      });

      test('a counter that has no expiry yet gets the window on its next hit', async () => {
        const k = ns('rl-noexpiry');
        await store.incr(`${k}ip`);
        const hit = await store.hitRateLimit(`${k}ip`, 5, 120);
        expect(hit.count).toBe(2);
        expect(hit.resetMs).toBeLessThanOrEqual(120);
        await Bun.sleep(200);
        expect(await store.exists(`${k}ip`)).toBe(false);
      });
    });

    describe('deleteMatching / countMatching', () => {
      test('glob patterns count and delete only the matching keys', async () => {
        const k = ns('glob');
        for (const key of ['user:1:a', 'user:1:b', 'user:2:a', 'user:10:a', 'other', 'file.txt', 'fileXtxt'])
          await store.set(`${k}${key}`, 'x');
        await store.streamAppend(`${k}user:1:stream`, { a: '1' });
        expect(await store.countMatching(`${k}user:1:*`)).toBe(3);
        expect(await store.countMatching(`${k}user:?:a`)).toBe(2);
        expect(await store.countMatching(`${k}user:*:a`)).toBe(3);
        expect(await store.countMatching(`${k}file.txt`)).toBe(1);
        expect(await store.countMatching(`${k}*`)).toBe(8);
        expect(await store.countMatching(`${k}nothing*`)).toBe(0);

        expect(await store.deleteMatching(`${k}user:1:*`)).toBe(3);
        expect(await store.exists(`${k}user:1:a`)).toBe(false);
        expect(await store.exists(`${k}user:1:stream`)).toBe(false);
        for (const kept of ['user:2:a', 'user:10:a', 'other', 'file.txt', 'fileXtxt']) expect(await store.get(`${k}${kept}`)).toBe('x');
        expect(await store.deleteMatching(`${k}user:?:a`)).toBe(1);
        expect(await store.get(`${k}user:10:a`)).toBe('x');
        expect(await store.deleteMatching(`${k}nothing*`)).toBe(0);
        expect(await store.countMatching(`${k}*`)).toBe(4);
      });

      test('expired keys are neither counted nor deleted', async () => {
        const k = ns('glob-ttl');
        await store.set(`${k}live`, 'x');
        await store.set(`${k}dying`, 'x', { ttlMs: 60 });
        await Bun.sleep(130);
        expect(await store.countMatching(`${k}*`)).toBe(1);
        expect(await store.deleteMatching(`${k}*`)).toBe(1);
        expect(await store.countMatching(`${k}*`)).toBe(0);
      });
    });

    describe('publish / subscribe', () => {
      test('delivers to every subscriber of the channel, in order, and to no other channel', async () => {
        const k = ns('pubsub');
        const first: string[] = [];
        const second: string[] = [];
        const elsewhere: string[] = [];
        const unsubs = [
          await store.subscribe(`${k}news`, (m) => first.push(m)),
          await store.subscribe(`${k}news`, (m) => second.push(m)),
          await store.subscribe(`${k}sport`, (m) => elsewhere.push(m)),
        ];
        const sent = Array.from({ length: 25 }, (_, i) => `message ${i} ✓`);
        for (const message of sent) await store.publish(`${k}news`, message);
        await store.publish(`${k}sport`, 'goal');
        await waitFor('all messages', () => first.length === 25 && second.length === 25 && elsewhere.length === 1);
        expect(first).toEqual(sent);
        expect(second).toEqual(sent);
        expect(elsewhere).toEqual(['goal']);
        for (const unsub of unsubs) await unsub();
      });

      test('publishing to a channel nobody listens to resolves', async () => {
        const k = ns('pubsub-none');
        expect(await store.publish(`${k}void`, 'hello?')).toBeUndefined();
      });

      test('unsubscribe stops delivery; calling it again is harmless', async () => {
        const k = ns('unsub');
        const gone: string[] = [];
        const staying: string[] = [];
        const unsubGone = await store.subscribe(`${k}ch`, (m) => gone.push(m));
        const unsubStaying = await store.subscribe(`${k}ch`, (m) => staying.push(m));
        await store.publish(`${k}ch`, 'one');
        await waitFor('first message', () => gone.length === 1 && staying.length === 1);
        await unsubGone();
        await unsubGone();
        await store.publish(`${k}ch`, 'two');
        await waitFor('second message', () => staying.length === 2);
        expect(staying).toEqual(['one', 'two']);
        expect(gone).toEqual(['one']);
        await unsubStaying();
      });

      test('a stale unsubscribe does not remove a later subscriber of the same channel', async () => {
        const k = ns('unsub-stale');
        const received: string[] = [];
        const probe: string[] = [];
        const unsubOld = await store.subscribe(`${k}ch`, () => {});
        await unsubOld();
        const unsubNew = await store.subscribe(`${k}ch`, (m) => received.push(m));
        await unsubOld();
        const unsubProbe = await store.subscribe(`${k}probe`, (m) => probe.push(m));
        await store.publish(`${k}ch`, 'still here');
        await store.publish(`${k}probe`, 'done');
        await waitFor('probe message', () => probe.length === 1);
        await waitFor('message to the later subscriber', () => received.length === 1, 1000);
        expect(received).toEqual(['still here']);
        await unsubNew();
        await unsubProbe();
      });
    });

    describe('streams', () => {
      test('ids increase strictly; entries read back oldest first with their fields', async () => {
        const k = ns('stream');
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) ids.push(await store.streamAppend(`${k}s`, { n: String(i), text: `chunk ${i} ✓`, empty: '' }));
        for (const id of ids) expect(id).toMatch(/^\d+-\d+$/);
        for (let i = 1; i < ids.length; i++) expect(streamIdOrder(ids[i]!, ids[i - 1]!)).toBeGreaterThan(0);
        const entries = await store.streamRead(`${k}s`);
        expect(entries.map((e) => e.id)).toEqual(ids);
        expect(entries[3]).toEqual({ id: ids[3]!, fields: { n: '3', text: 'chunk 3 ✓', empty: '' } });
        expect(await store.streamLength(`${k}s`)).toBe(20);
      });

      test('afterId is exclusive', async () => {
        const k = ns('stream-read');
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await store.streamAppend(`${k}s`, { n: String(i) }));
        expect((await store.streamRead(`${k}s`, { afterId: ids[1]! })).map((e) => e.fields.n)).toEqual(['2', '3', '4']);
        expect((await store.streamRead(`${k}s`, { afterId: ids[0]! })).map((e) => e.id)).toEqual(ids.slice(1));
        expect(await store.streamRead(`${k}s`, { afterId: ids[4]! })).toEqual([]);
        expect((await store.streamRead(`${k}s`, { afterId: '0-0' })).length).toBe(5);
      });

      test('ttlMs expires the whole buffer and a later ttlMs sets it again', async () => {
        const k = ns('stream-ttl');
        // An append without ttlMs keeps the buffer's expiry…
        await store.streamAppend(`${k}s`, { n: '0' }, { ttlMs: 100 });
        await store.streamAppend(`${k}s`, { n: '1' });
        // …and one with ttlMs sets it again.
        await store.streamAppend(`${k}t`, { n: '0' }, { ttlMs: 100 });
        await store.streamAppend(`${k}t`, { n: '1' }, { ttlMs: 60_000 });
        await Bun.sleep(180);
        expect(await store.streamRead(`${k}s`)).toEqual([]);
        expect(await store.streamLength(`${k}s`)).toBe(0);
        expect(await store.exists(`${k}s`)).toBe(false);
        expect((await store.streamRead(`${k}t`)).map((e) => e.fields.n)).toEqual(['0', '1']);
      });

      test('a missing stream reads as empty', async () => {
        const k = ns('stream-missing');
        expect(await store.streamRead(`${k}none`)).toEqual([]);
        expect(await store.streamRead(`${k}none`, { afterId: '1-0' })).toEqual([]);
        expect(await store.streamLength(`${k}none`)).toBe(0);
      });
    });

    describe('health and isolation', () => {
      test('status is ok and ping measures a round trip', async () => {
        expect(store.status()).toBe('ok');
        const ms = await store.ping();
        expect(typeof ms).toBe('number');
        expect(ms).toBeWithin(0, 1000);
      });

      test('two stores opened separately do not see each other’s keys or channels', async () => {
        const other = await open();
        try {
          const k = ns('iso');
          await store.set(`${k}shared`, 'mine');
          await other.store.set(`${k}shared`, 'theirs');
          await other.store.set(`${k}only-theirs`, 'x');
          expect(await store.get(`${k}shared`)).toBe('mine');
          expect(await other.store.get(`${k}shared`)).toBe('theirs');
          expect(await store.exists(`${k}only-theirs`)).toBe(false);
          expect(await store.countMatching(`${k}*`)).toBe(1);
          expect(await other.store.deleteMatching(`${k}*`)).toBe(2);
          expect(await store.get(`${k}shared`)).toBe('mine');

          const mine: string[] = [];
          const theirs: string[] = [];
          const unsubMine = await store.subscribe(`${k}ch`, (m) => mine.push(m));
          const unsubTheirs = await other.store.subscribe(`${k}ch`, (m) => theirs.push(m));
          await other.store.publish(`${k}ch`, 'for them');
          await store.publish(`${k}ch`, 'for me');
          await waitFor('both messages', () => mine.length === 1 && theirs.length === 1);
          expect(mine).toEqual(['for me']);
          expect(theirs).toEqual(['for them']);
          await unsubMine();
          await unsubTheirs();
        } finally {
          await other.store.close();
          await other.cleanup();
        }
      });
    });
  });
}
