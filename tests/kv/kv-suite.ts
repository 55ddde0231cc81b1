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
      test('happy: a missing key reads as null; a set value reads back exactly', async () => {
        const k = ns('get');
        expect(await store.get(`${k}missing`)).toBeNull();
        expect(await store.set(`${k}a`, 'héllo wörld ✓ {"json":true}')).toBe(true);
        expect(await store.get(`${k}a`)).toBe('héllo wörld ✓ {"json":true}');
        expect(await store.set(`${k}empty`, '')).toBe(true);
        expect(await store.get(`${k}empty`)).toBe('');
        expect(await store.exists(`${k}empty`)).toBe(true);
      });

      test('happy: ttlMs expires the value', async () => {
        const k = ns('set-ttl');
        expect(await store.set(`${k}a`, 'v', { ttlMs: 80 })).toBe(true);
        expect(await store.get(`${k}a`)).toBe('v');
        await Bun.sleep(160);
        expect(await store.get(`${k}a`)).toBeNull();
        expect(await store.exists(`${k}a`)).toBe(false);
      });

      test('error: onlyIfAbsent sets a missing key and refuses an existing one, leaving its expiry alone', async () => {
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

      test('happy: onlyIfAbsent succeeds again once the key has expired', async () => {
        const k = ns('nx-ttl');
        expect(await store.set(`${k}lock`, 'a', { onlyIfAbsent: true, ttlMs: 80 })).toBe(true);
        expect(await store.set(`${k}lock`, 'b', { onlyIfAbsent: true, ttlMs: 80 })).toBe(false);
        await Bun.sleep(160);
        expect(await store.set(`${k}lock`, 'c', { onlyIfAbsent: true })).toBe(true);
        expect(await store.get(`${k}lock`)).toBe('c');
      });

      test('happy: a plain set replaces the value and removes an earlier expiry', async () => {
        const k = ns('set-clear');
        await store.set(`${k}a`, 'v1', { ttlMs: 80 });
        expect(await store.set(`${k}a`, 'v2')).toBe(true);
        expect(await store.get(`${k}a`)).toBe('v2');
        await Bun.sleep(160);
        expect(await store.get(`${k}a`)).toBe('v2');
      });
    });

    describe('del / exists', () => {
      test('happy: del returns how many of the keys existed', async () => {
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

      test('happy: exists is true for values, counters and streams, false otherwise', async () => {
        const k = ns('exists');
        expect(await store.exists(`${k}value`)).toBe(false);
        await store.set(`${k}value`, 'x');
        await store.incr(`${k}counter`);
        await store.streamAppend(`${k}stream`, { a: '1' });
        for (const key of ['value', 'counter', 'stream']) expect(await store.exists(`${k}${key}`)).toBe(true);
      });
    });

    describe('incr', () => {
      test('happy: starts from 0, adds `by` (negative too) and is readable with get', async () => {
        const k = ns('incr');
        expect(await store.incr(`${k}n`)).toBe(1);
        expect(await store.incr(`${k}n`)).toBe(2);
        expect(await store.incr(`${k}n`, { by: 5 })).toBe(7);
        expect(await store.incr(`${k}n`, { by: -10 })).toBe(-3);
        expect(await store.get(`${k}n`)).toBe('-3');
        await store.set(`${k}s`, '40');
        expect(await store.incr(`${k}s`, { by: 2 })).toBe(42);
      });

      test('happy: ttlMs is set on creation only, never reset or added by later incr', async () => {
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

      test('happy: concurrent increments are all counted', async () => {
        const k = ns('incr-many');
        const results = await Promise.all(Array.from({ length: 40 }, () => store.incr(`${k}n`)));
        expect(results.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(await store.get(`${k}n`)).toBe('40');
      });
    });

    describe('consumeWindows / peekWindows (all windows or none)', () => {
      const windows = (k: string, ...specs: [name: string, limit: number, ttlMs: number][]) =>
        specs.map(([name, limit, ttlMs]) => ({ key: `${k}${name}`, limit, ttlMs }));

      test('happy: admitted calls charge every window; a call one window refuses charges none', async () => {
        const k = ns('win');
        const spec = windows(k, ['minute', 2, 60_000], ['hour', 5, 3_600_000], ['day', 9, 86_400_000]);
        for (const expected of [1, 2]) {
          const verdict = await store.consumeWindows(spec);
          expect(verdict.admitted).toBe(true);
          expect(verdict.windows.map((w) => w.count)).toEqual([expected, expected, expected]);
          expect(verdict.windows.map((w) => w.allowed)).toEqual([true, true, true]);
          expect(verdict.windows.map((w) => w.remaining)).toEqual([2 - expected, 5 - expected, 9 - expected]);
        }
        for (let i = 0; i < 3; i++) {
          const refused = await store.consumeWindows(spec);
          expect(refused.admitted).toBe(false);
          // Only the minute window refused; the others had room and still were not charged.
          expect(refused.windows.map((w) => w.allowed)).toEqual([false, true, true]);
          expect(refused.windows.map((w) => w.count)).toEqual([2, 2, 2]);
          expect(refused.windows.map((w) => w.remaining)).toEqual([0, 3, 7]);
          expect(refused.windows[0]!.resetMs).toBeWithin(50_000, 60_001);
        }
        // Each window is a plain counter under the key it was given.
        for (const name of ['minute', 'hour', 'day']) expect(await store.get(`${k}${name}`)).toBe('2');
      });

      test('error: a refusal by a later window charges the earlier ones nothing, and creates no counter', async () => {
        const k = ns('win-later');
        const spec = windows(k, ['fresh', 10, 60_000], ['spent', 0, 60_000]);
        const refused = await store.consumeWindows(spec);
        expect(refused.admitted).toBe(false);
        expect(refused.windows).toEqual([
          { allowed: true, count: 0, remaining: 10, resetMs: 60_000 },
          { allowed: false, count: 0, remaining: 0, resetMs: 60_000 },
        ]);
        expect(await store.exists(`${k}fresh`)).toBe(false);
        expect(await store.exists(`${k}spent`)).toBe(false);
      });

      test('happy: windows with different TTLs each end on their own, counted from their first charge', async () => {
        const k = ns('win-ttl');
        const spec = windows(k, ['short', 1, 150], ['long', 5, 10_000]);
        const first = await store.consumeWindows(spec);
        expect(first.admitted).toBe(true);
        expect(first.windows[0]!.resetMs).toBeWithin(1, 151);
        expect(first.windows[1]!.resetMs).toBeWithin(9_000, 10_001);
        expect((await store.consumeWindows(spec)).admitted).toBe(false);
        expect(await store.get(`${k}long`)).toBe('1');
        await Bun.sleep(250);
        expect(await store.exists(`${k}short`)).toBe(false);
        const again = await store.consumeWindows(spec);
        expect(again.admitted).toBe(true);
        expect(again.windows.map((w) => w.count)).toEqual([1, 2]);
        expect(again.windows[0]!.resetMs).toBeWithin(1, 151);
        // The long window kept its end: a later charge does not extend it.
        expect(again.windows[1]!.resetMs).toBeLessThanOrEqual(first.windows[1]!.resetMs - 200);
      });

      test('security: 50 concurrent calls with limit 10 admit exactly 10, and the other windows count exactly 10', async () => {
        const k = ns('win-race');
        const spec = windows(k, ['minute', 10, 60_000], ['hour', 100, 3_600_000], ['day', 500, 86_400_000]);
        const verdicts = await Promise.all(Array.from({ length: 50 }, () => store.consumeWindows(spec)));
        const admitted = verdicts.filter((v) => v.admitted);
        expect(admitted).toHaveLength(10);
        expect(admitted.map((v) => v.windows[0]!.count).toSorted((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
        for (const verdict of verdicts.filter((v) => !v.admitted)) {
          expect(verdict.windows.map((w) => w.allowed)).toEqual([false, true, true]);
          expect(verdict.windows.map((w) => w.count)).toEqual([10, 10, 10]);
        }
        const peek = await store.peekWindows(spec);
        expect(peek.admitted).toBe(false);
        expect(peek.windows.map((w) => w.count)).toEqual([10, 10, 10]);
        expect(peek.windows.map((w) => w.remaining)).toEqual([0, 90, 490]);
      });

      test('security: concurrent calls on windows in either order admit exactly the tightest limit', async () => {
        const k = ns('win-race-order');
        const tightLast = windows(k, ['hour', 100, 3_600_000], ['minute', 7, 60_000]);
        const tightFirst = [tightLast[1]!, tightLast[0]!];
        const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => store.consumeWindows(i % 2 ? tightFirst : tightLast)));
        expect(verdicts.filter((v) => v.admitted)).toHaveLength(7);
        expect((await store.peekWindows(tightLast)).windows.map((w) => w.count)).toEqual([7, 7]);
      });

      test('happy: peekWindows says whether one more call fits, without charging or creating anything', async () => {
        const k = ns('win-peek');
        const spec = windows(k, ['a', 2, 5_000], ['b', 3, 60_000]);
        expect(await store.peekWindows(spec)).toEqual({
          admitted: true,
          windows: [
            { allowed: true, count: 0, remaining: 2, resetMs: 5_000 },
            { allowed: true, count: 0, remaining: 3, resetMs: 60_000 },
          ],
        });
        expect(await store.exists(`${k}a`)).toBe(false);
        expect((await store.consumeWindows(spec)).windows.map((w) => w.count)).toEqual([1, 1]);
        // Peeks that would be admitted count nothing either: the next charge is the second.
        for (let i = 0; i < 3; i++) {
          const peek = await store.peekWindows(spec);
          expect(peek.admitted).toBe(true);
          expect(peek.windows.map((w) => [w.allowed, w.count, w.remaining])).toEqual([
            [true, 1, 1],
            [true, 1, 2],
          ]);
          expect(peek.windows[0]!.resetMs).toBeWithin(4_000, 5_001);
        }
        expect((await store.consumeWindows(spec)).windows.map((w) => w.count)).toEqual([2, 2]);
        for (let i = 0; i < 3; i++) {
          const peek = await store.peekWindows(spec);
          expect(peek.admitted).toBe(false);
          expect(peek.windows.map((w) => [w.allowed, w.count, w.remaining])).toEqual([
            [false, 2, 0],
            [true, 2, 1],
          ]);
          expect(peek.windows[0]!.resetMs).toBeWithin(4_000, 5_001);
        }
      });

      test('happy: `by` charges several at once, and only if all of it fits', async () => {
        const k = ns('win-by');
        const spec = windows(k, ['a', 5, 60_000], ['b', 100, 60_000]);
        expect((await store.consumeWindows(spec, { by: 3 })).windows.map((w) => w.count)).toEqual([3, 3]);
        expect((await store.peekWindows(spec, { by: 3 })).admitted).toBe(false);
        expect((await store.peekWindows(spec, { by: 2 })).admitted).toBe(true);
        expect((await store.consumeWindows(spec, { by: 3 })).admitted).toBe(false);
        expect((await store.consumeWindows(spec, { by: 2 })).windows.map((w) => w.count)).toEqual([5, 5]);
      });

      test('happy: no windows admits; a counter without expiry gets the window on its next charge', async () => {
        const k = ns('win-edge');
        expect(await store.consumeWindows([])).toEqual({ admitted: true, windows: [] });
        await store.incr(`${k}n`);
        const verdict = await store.consumeWindows(windows(k, ['n', 5, 120]));
        expect(verdict.windows[0]!.count).toBe(2);
        expect(verdict.windows[0]!.resetMs).toBeLessThanOrEqual(120);
        await Bun.sleep(200);
        expect(await store.exists(`${k}n`)).toBe(false);
      });

      test('error: repeated keys, bad limits, TTLs or `by`, and keys that hold no counter are rejected, charging nothing', async () => {
        const k = ns('win-bad');
        const good = { key: `${k}good`, limit: 5, ttlMs: 60_000 };
        await expect(store.consumeWindows([good, good])).rejects.toThrow();
        await expect(store.consumeWindows([good, { key: `${k}x`, limit: 5, ttlMs: 0 }])).rejects.toThrow();
        await expect(store.consumeWindows([good, { key: `${k}x`, limit: -1, ttlMs: 1000 }])).rejects.toThrow();
        await expect(store.consumeWindows([good], { by: 0 })).rejects.toThrow();
        await store.set(`${k}text`, 'not a number');
        await store.streamAppend(`${k}stream`, { a: '1' });
        await expect(store.consumeWindows([good, { key: `${k}text`, limit: 5, ttlMs: 1000 }])).rejects.toThrow();
        await expect(store.consumeWindows([good, { key: `${k}stream`, limit: 5, ttlMs: 1000 }])).rejects.toThrow();
        await expect(store.peekWindows([good, { key: `${k}text`, limit: 5, ttlMs: 1000 }])).rejects.toThrow();
        expect(await store.exists(`${k}good`)).toBe(false);
        expect(await store.get(`${k}text`)).toBe('not a number');
        expect(await store.streamLength(`${k}stream`)).toBe(1);
      });
    });

    describe('leases (acquireLease / renewLease / releaseLease / countLeases)', () => {
      test('happy: up to `limit` members hold a place; another is refused until one is released', async () => {
        const key = `${ns('lease')}set`;
        expect(await store.acquireLease(key, 'a', { limit: 2, ttlMs: 5000 })).toEqual({ acquired: true, held: 1 });
        expect(await store.acquireLease(key, 'b', { limit: 2, ttlMs: 5000 })).toEqual({ acquired: true, held: 2 });
        expect(await store.acquireLease(key, 'c', { limit: 2, ttlMs: 5000 })).toEqual({ acquired: false, held: 2 });
        // Taking a place already held renews it and counts it once.
        expect(await store.acquireLease(key, 'a', { limit: 2, ttlMs: 5000 })).toEqual({ acquired: true, held: 2 });
        await store.releaseLease(key, 'a');
        await store.releaseLease(key, 'a');
        expect(await store.countLeases(key)).toBe(1);
        expect(await store.acquireLease(key, 'c', { limit: 2, ttlMs: 5000 })).toEqual({ acquired: true, held: 2 });
        expect(await store.acquireLease(key, 'd', { limit: 0, ttlMs: 5000 })).toEqual({ acquired: true, held: 3 });
      });

      test('happy: a lease that is not renewed expires and frees its place; a renewed one stays', async () => {
        const key = `${ns('lease-ttl')}set`;
        await store.acquireLease(key, 'dead', { limit: 2, ttlMs: 80 });
        await store.acquireLease(key, 'alive', { limit: 2, ttlMs: 80 });
        await Bun.sleep(50);
        expect(await store.renewLease(key, 'alive', 200)).toBe(true);
        await Bun.sleep(60);
        expect(await store.countLeases(key)).toBe(1);
        expect(await store.renewLease(key, 'dead', 200)).toBe(false);
        expect(await store.acquireLease(key, 'new', { limit: 2, ttlMs: 200 })).toEqual({ acquired: true, held: 2 });
        await Bun.sleep(260);
        expect(await store.countLeases(key)).toBe(0);
        expect(await store.exists(key)).toBe(false);
      });

      test('security: 40 concurrent acquisitions with limit 5 give exactly 5 places', async () => {
        const key = `${ns('lease-race')}set`;
        const verdicts = await Promise.all(
          Array.from({ length: 40 }, (_, i) => store.acquireLease(key, `m${i}`, { limit: 5, ttlMs: 5000 })),
        );
        expect(verdicts.filter((verdict) => verdict.acquired)).toHaveLength(5);
        expect(await store.countLeases(key)).toBe(5);
      });
    });

    describe('deleteMatching / countMatching', () => {
      test('happy: glob patterns count and delete only the matching keys', async () => {
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

      test('happy: expired keys are neither counted nor deleted', async () => {
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
      test('happy: delivers to every subscriber of the channel, in order, and to no other channel', async () => {
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

      test('happy: publishing to a channel nobody listens to resolves', async () => {
        const k = ns('pubsub-none');
        expect(await store.publish(`${k}void`, 'hello?')).toBeUndefined();
      });

      test('happy: unsubscribe stops delivery; calling it again is harmless', async () => {
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

      test('happy: a stale unsubscribe does not remove a later subscriber of the same channel', async () => {
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
      test('happy: ids increase strictly; entries read back oldest first with their fields', async () => {
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

      test('happy: afterId is exclusive', async () => {
        const k = ns('stream-read');
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await store.streamAppend(`${k}s`, { n: String(i) }));
        expect((await store.streamRead(`${k}s`, { afterId: ids[1]! })).map((e) => e.fields.n)).toEqual(['2', '3', '4']);
        expect((await store.streamRead(`${k}s`, { afterId: ids[0]! })).map((e) => e.id)).toEqual(ids.slice(1));
        expect(await store.streamRead(`${k}s`, { afterId: ids[4]! })).toEqual([]);
        expect((await store.streamRead(`${k}s`, { afterId: '0-0' })).length).toBe(5);
      });

      test('happy: ttlMs expires the whole buffer and a later ttlMs sets it again', async () => {
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

      test('happy: a missing stream reads as empty', async () => {
        const k = ns('stream-missing');
        expect(await store.streamRead(`${k}none`)).toEqual([]);
        expect(await store.streamRead(`${k}none`, { afterId: '1-0' })).toEqual([]);
        expect(await store.streamLength(`${k}none`)).toBe(0);
      });
    });

    describe('health and isolation', () => {
      test('happy: status is ok and ping measures a round trip', async () => {
        expect(store.status()).toBe('ok');
        const ms = await store.ping();
        expect(typeof ms).toBe('number');
        expect(ms).toBeWithin(0, 1000);
      });

      test('security: two stores opened separately do not see each other’s keys or channels', async () => {
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
