// The stream follower on its own, over a KV whose pub/sub loses a notification, as Redis pub/sub
// may (at most once; nothing is replayed to a subscriber whose connection was re-established).
// The buffer itself is durable, so a follower that checks it on its idle tick must still see
// every event and the end; it must not depend on every notification arriving.
import { afterEach, describe, expect, test } from 'bun:test';
import type { KeyValueStore } from '../../src/infra/kv/index.ts';
import { createMemoryStore } from '../../src/infra/kv/memory.ts';
import { createStreamBuffers } from '../../src/infra/kv/stream-buffers.ts';
import { readStream } from '../../src/infra/kv/stream-reader.ts';
import { waitUntil } from '../helpers/wait.ts';

/** A memory KV whose next publish on a stream channel is silently dropped when `dropNext` is set. */
function lossyStore(): { kv: KeyValueStore; dropNext: () => void; dropped: () => number } {
  const inner = createMemoryStore();
  let drop = false;
  let dropped = 0;
  const kv: KeyValueStore = Object.create(inner);
  kv.publish = async (channel, message) => {
    if (drop && channel.startsWith('stream:')) {
      drop = false;
      dropped++;
      return;
    }
    return inner.publish(channel, message);
  };
  return { kv, dropNext: () => void (drop = true), dropped: () => dropped };
}

describe('following a stream when a notification is lost', () => {
  const controllers: AbortController[] = [];
  afterEach(() => {
    for (const controller of controllers.splice(0)) controller.abort();
  });

  const collect = async (iterable: AsyncIterable<unknown>, into: unknown[]) => {
    for await (const item of iterable) into.push(item);
  };

  test('happy: with every notification delivered, the follower gets the events and ends at close', async () => {
    const { kv } = lossyStore();
    const buffers = createStreamBuffers(kv);
    await buffers.create('s0', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    const controller = new AbortController();
    controllers.push(controller);
    const items: unknown[] = [];
    const done = collect(readStream(buffers, 's0', { signal: controller.signal, idleMs: 100 }), items);
    await Bun.sleep(50);
    await buffers.append('s0', 'message', '"one"', 60);
    await buffers.end('s0', 60);
    const ended = await Promise.race([done.then(() => true), Bun.sleep(2000).then(() => false)]);
    expect(ended).toBe(true);
    expect(items).toEqual([{ id: expect.any(String), event: 'message', data: '"one"' }]);
    expect(buffers.activeFollowers()).toBe(0);
  });

  test('error: a lost notification for an event: the event still arrives by the next idle tick', async () => {
    const { kv, dropNext, dropped } = lossyStore();
    const buffers = createStreamBuffers(kv);
    await buffers.create('s1', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    const controller = new AbortController();
    controllers.push(controller);
    const items: { event?: string; ping?: boolean }[] = [];
    void collect(readStream(buffers, 's1', { signal: controller.signal, idleMs: 100 }), items);
    await Bun.sleep(50);
    dropNext();
    await buffers.append('s1', 'message', '"lost notification"', 60);
    expect(dropped()).toBe(1);
    // By the next idle tick (100 ms), the buffered event must have been read...
    await waitUntil(() => items.some((item) => item.event === 'message'), 'the event after an idle tick', 1000);
    // ...found by that tick's re-read (the tick's ping comes first), as no notification came,
    expect(items[0]).toEqual({ ping: true });
    // ...and later ticks do not read it again.
    await Bun.sleep(250);
    expect(items.filter((item) => item.event === 'message')).toHaveLength(1);
  });

  test('error: a lost notification for the end: the follower still ends (instead of pinging forever)', async () => {
    const { kv, dropNext, dropped } = lossyStore();
    const buffers = createStreamBuffers(kv);
    await buffers.create('s2', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    await buffers.append('s2', 'message', '"before"', 60);
    const controller = new AbortController();
    controllers.push(controller);
    const items: { event?: string; ping?: boolean }[] = [];
    const done = collect(readStream(buffers, 's2', { signal: controller.signal, idleMs: 100 }), items);
    await Bun.sleep(50);
    dropNext();
    await buffers.end('s2', 60);
    expect(dropped()).toBe(1);
    const ended = await Promise.race([done.then(() => true), Bun.sleep(1500).then(() => false)]);
    expect({ ended, pings: items.filter((item) => item.ping).length }).toEqual({ ended: true, pings: expect.any(Number) });
    expect(buffers.activeFollowers()).toBe(0);
  });

  describe('a producer whose heartbeat key lapsed', () => {
    const quietReply = async (id: string, local: boolean) => {
      const buffers = createStreamBuffers(createMemoryStore());
      // The heartbeat key is never written: as after a 15 s stall of the producer's event loop.
      await buffers.create(id, { ownerId: 'u', kind: 'generation', ttlSeconds: 60, producerAliveKey: `alive:${id}` });
      const release = local ? buffers.produce(id) : () => undefined;
      const controller = new AbortController();
      controllers.push(controller);
      const items: { event?: string; ping?: boolean }[] = [];
      const done = collect(readStream(buffers, id, { signal: controller.signal, idleMs: 50 }), items);
      // Quiet for three idle ticks: time enough to call the producer dead (once would do).
      await Bun.sleep(150);
      await buffers.append(id, 'done', '{}', 60);
      await buffers.end(id, 60);
      release();
      await Promise.race([done, Bun.sleep(1500)]);
      return items.filter((item) => !item.ping).map((item) => item.event);
    };

    test('happy: running in this process, it is alive: the reader waits and gets the end, not "interrupted"', async () => {
      expect(await quietReply('local', true)).toEqual(['done']);
    });

    test('error: running nowhere that beats, the reader reports it interrupted', async () => {
      expect(await quietReply('remote', false)).toEqual(['error']);
    });
  });
});

describe('resuming a closed stream after an id with nothing after it', () => {
  const controllers: AbortController[] = [];
  afterEach(() => {
    for (const controller of controllers.splice(0)) controller.abort();
  });

  /** Follows `id` after `afterId` for up to `ms`: what it yielded, and whether it ended by itself. */
  const followFor = async (buffers: ReturnType<typeof createStreamBuffers>, id: string, afterId: string, ms = 1000) => {
    const controller = new AbortController();
    controllers.push(controller);
    const items: unknown[] = [];
    const done = (async () => {
      for await (const item of readStream(buffers, id, { afterId, signal: controller.signal, idleMs: 50 })) items.push(item);
    })();
    const ended = await Promise.race([done.then(() => true), Bun.sleep(ms).then(() => false)]);
    controller.abort();
    await done;
    return { ended, items };
  };
  const past = (id: string) => `${BigInt(id.split('-')[0]!) + 60_000n}-0`;

  const closedStream = async (id: string) => {
    const buffers = createStreamBuffers(createMemoryStore());
    await buffers.create(id, { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    const last = await buffers.append(id, 'message', '"one"', 60);
    await buffers.end(id, 60);
    return { buffers, last };
  };

  test('happy: after an id past its end marker, the reader ends at once, with nothing (no ping)', async () => {
    const { buffers, last } = await closedStream('c1');
    const { events } = await buffers.snapshot('c1');
    expect(events.map((event) => event.id)).toEqual([last]);
    for (const afterId of [last, past(last), '18446744073709551615-18446744073709551615']) {
      expect({ afterId, ...(await followFor(buffers, 'c1', afterId)) }).toEqual({ afterId, ended: true, items: [] });
    }
    expect(buffers.activeFollowers()).toBe(0);
  });

  test('error: a closed stream whose meta lost its "ended" mark still ends a resume past its end (the marker is found)', async () => {
    const buffers = createStreamBuffers(createMemoryStore());
    await buffers.create('c2', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    const last = await buffers.append('c2', 'message', '"one"', 60);
    // As if the closer died between writing the end marker and marking the meta.
    await buffers.append('c2', '__end', '', 60);
    expect(await buffers.snapshot('c2')).toMatchObject({ ended: true });
    expect((await buffers.meta('c2')) as object).not.toHaveProperty('ended');
    expect(await followFor(buffers, 'c2', past(last))).toEqual({ ended: true, items: [] });
  });

  test('happy: a stream not closed, followed past its last event, keeps waiting (pings) and gets what comes next', async () => {
    const buffers = createStreamBuffers(createMemoryStore());
    await buffers.create('c3', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    const first = await buffers.append('c3', 'message', '"one"', 60);
    const waiting = await followFor(buffers, 'c3', past(first), 300);
    expect(waiting.ended).toBe(false);
    expect(waiting.items.length).toBeGreaterThan(0);
    expect(waiting.items.every((item) => (item as { ping?: boolean }).ping === true)).toBe(true);
    const following = followFor(buffers, 'c3', first, 2000);
    await Bun.sleep(100);
    const second = await buffers.append('c3', 'message', '"two"', 60);
    await buffers.end('c3', 60);
    const { ended, items } = await following;
    expect({ ended, events: items.filter((item) => !(item as { ping?: boolean }).ping) }).toEqual({
      ended: true,
      events: [{ id: second, event: 'message', data: '"two"' }],
    });
  });
});
