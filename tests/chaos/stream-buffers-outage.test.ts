// The stream buffers on their own over a KV that can be taken away: a producer's events wait out
// an outage and land in order, each once (even when an append's answer was lost after it was
// applied); past the hold the producer is let go and its events are written when the KV is back;
// past the keep they are dropped. A reader waits through a short outage and gives up on a long one
// with an `unavailable` error whose id lets it resume without a gap.
import { afterEach, describe, expect, test } from 'bun:test';
import { KvUnavailableError } from '../../src/infra/kv/errors.ts';
import type { KeyValueStore } from '../../src/infra/kv/index.ts';
import { createMemoryStore } from '../../src/infra/kv/memory.ts';
import { createStreamBuffers, type StreamBufferOptions } from '../../src/infra/kv/stream-buffers.ts';
import { type ReaderItem, readStream } from '../../src/infra/kv/stream-reader.ts';
import { waitUntil } from '../helpers/wait.ts';

/** A memory KV that can be down (every call fails as an unreachable Redis does), or lose the answer of its next stream append. */
function switchableStore() {
  const inner = createMemoryStore();
  const state = { down: false, loseNextAppendAnswer: false, appends: 0 };
  const kv: KeyValueStore = Object.create(inner);
  const guarded = ['get', 'set', 'del', 'exists', 'incr', 'publish', 'subscribe', 'streamRead', 'streamLength', 'ping'] as const;
  for (const name of guarded) {
    const original = inner[name] as (...args: unknown[]) => Promise<unknown>;
    (kv as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      if (state.down) throw new KvUnavailableError(name, 'connection refused (test)');
      return original.apply(inner, args);
    };
  }
  kv.streamAppend = async (key, fields, options) => {
    if (state.down) throw new KvUnavailableError('streamAppend', 'connection refused (test)');
    state.appends++;
    const id = await inner.streamAppend(key, fields, options);
    if (state.loseNextAppendAnswer) {
      state.loseNextAppendAnswer = false;
      throw new KvUnavailableError('streamAppend', 'Connection is closed (test)');
    }
    return id;
  };
  kv.status = () => (state.down ? 'degraded' : 'ok');
  return { kv, state };
}

const fast: StreamBufferOptions = { pollMs: 20, idleMs: 1000 };

describe('stream buffers through a KV outage', () => {
  const controllers: AbortController[] = [];
  afterEach(() => {
    for (const controller of controllers.splice(0)) controller.abort();
  });
  const reader = (buffers: ReturnType<typeof createStreamBuffers>, id: string, afterId?: string) => {
    const controller = new AbortController();
    controllers.push(controller);
    const items: ReaderItem[] = [];
    const done = (async () => {
      for await (const item of readStream(buffers, id, { signal: controller.signal, afterId })) items.push(item);
    })();
    return { items, done, events: () => items.filter((item): item is Exclude<ReaderItem, { ping: true }> => !('ping' in item)) };
  };
  const datas = async (buffers: ReturnType<typeof createStreamBuffers>, id: string) =>
    (await buffers.snapshot(id)).events.map((event) => event.data);

  test('happy: a producer’s appends wait out a short outage and land in order, each once', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, fast);
    await buffers.create('p1', { ownerId: 'u', kind: 'generation', ttlSeconds: 60 });
    const release = buffers.produce('p1');
    await buffers.append('p1', 'delta', 'a', 60);
    state.down = true;
    const pending = [buffers.append('p1', 'delta', 'b', 60), buffers.append('p1', 'delta', 'c', 60)];
    await Bun.sleep(150);
    state.down = false;
    const ids = await Promise.all(pending);
    expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    await buffers.end('p1', 60);
    release();
    expect(await datas(buffers, 'p1')).toEqual(['a', 'b', 'c']);
    expect((await buffers.snapshot('p1')).ended).toBe(true);
    expect(buffers.heldBytes()).toBe(0);
  });

  test('error: an append applied before its answer was lost is not written twice', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, fast);
    await buffers.create('p2', { ownerId: 'u', kind: 'generation', ttlSeconds: 60 });
    const release = buffers.produce('p2');
    await buffers.append('p2', 'delta', 'same', 60);
    state.loseNextAppendAnswer = true;
    await buffers.append('p2', 'delta', 'same', 60);
    await buffers.append('p2', 'delta', 'last', 60);
    release();
    expect(await datas(buffers, 'p2')).toEqual(['same', 'same', 'last']);
    expect(state.appends).toBe(3);
  });

  test('error: past the hold the producer is let go, and its events are written in order once the KV is back', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, { ...fast, holdMs: 100 });
    await buffers.create('p3', { ownerId: 'u', kind: 'generation', ttlSeconds: 60 });
    const release = buffers.produce('p3');
    state.down = true;
    const started = performance.now();
    expect(await buffers.append('p3', 'delta', 'x', 60)).toBe('');
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    // Let go: later writes return at once, and wait here.
    expect(await buffers.append('p3', 'delta', 'y', 60)).toBe('');
    await buffers.end('p3', 60);
    release();
    expect(buffers.heldBytes()).toBeGreaterThan(0);
    // Still this process's stream while it holds its events: readers elsewhere must not call it dead.
    expect(
      await buffers.isProducerAlive('p3', { ownerId: 'u', kind: 'generation', createdAt: '', ttlSeconds: 60, producerAliveKey: 'k' }),
    ).toBe(true);
    state.down = false;
    await waitUntil(() => buffers.heldBytes() === 0, 'held events written', 2000);
    expect(await datas(buffers, 'p3')).toEqual(['x', 'y']);
    expect((await buffers.snapshot('p3')).ended).toBe(true);
    expect(JSON.parse((await kv.get('stream:p3:meta'))!).ended).toBe(true);
  });

  test('error: past the keep the held events are dropped, and later appends fail', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, { ...fast, holdMs: 50, keepMs: 150 });
    await buffers.create('p4', { ownerId: 'u', kind: 'generation', ttlSeconds: 60 });
    const release = buffers.produce('p4');
    state.down = true;
    expect(await buffers.append('p4', 'delta', 'lost', 60)).toBe('');
    await Bun.sleep(250);
    await expect(buffers.append('p4', 'delta', 'later', 60)).rejects.toBeInstanceOf(KvUnavailableError);
    release();
    state.down = false;
    await waitUntil(() => buffers.heldBytes() === 0, 'held events released', 2000);
    expect(await datas(buffers, 'p4')).toEqual([]);
  });

  test('error: too much held drops that stream’s events instead of growing without bound', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, { ...fast, holdMs: 10, maxHeldBytes: 100 });
    await buffers.create('p5', { ownerId: 'u', kind: 'generation', ttlSeconds: 60 });
    const release = buffers.produce('p5');
    state.down = true;
    await buffers.append('p5', 'delta', 'x'.repeat(60), 60);
    await expect(buffers.append('p5', 'delta', 'y'.repeat(60), 60)).rejects.toBeInstanceOf(KvUnavailableError);
    release();
    state.down = false;
  });

  test('error: an append to a stream this process does not produce fails at once', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, fast);
    await buffers.create('g1', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    state.down = true;
    await expect(buffers.append('g1', 'note', '1', 60)).rejects.toBeInstanceOf(KvUnavailableError);
    await expect(buffers.create('g2', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 })).rejects.toBeInstanceOf(KvUnavailableError);
  });

  test('happy: a reader waits through a short outage and then gets every event and the end', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, { ...fast, patienceMs: 5000 });
    await buffers.create('r1', { ownerId: 'u', kind: 'generation', ttlSeconds: 60 });
    const release = buffers.produce('r1');
    const follow = reader(buffers, 'r1');
    await buffers.append('r1', 'delta', 'one', 60);
    await waitUntil(() => follow.events().length === 1, 'first event', 1000);
    state.down = true;
    const held = buffers.append('r1', 'delta', 'two', 60);
    await Bun.sleep(200);
    state.down = false;
    await held;
    await buffers.end('r1', 60);
    release();
    await Promise.race([follow.done, Bun.sleep(2000)]);
    expect(follow.events().map((event) => event.data)).toEqual(['one', 'two']);
    expect(buffers.activeFollowers()).toBe(0);
  });

  test('error: a reader gives up after its patience with an unavailable error carrying the last event’s id', async () => {
    const { kv, state } = switchableStore();
    const buffers = createStreamBuffers(kv, { ...fast, idleMs: 100, patienceMs: 200 });
    await buffers.create('r2', { ownerId: 'u', kind: 'generic', ttlSeconds: 60 });
    const first = await buffers.append('r2', 'note', '"one"', 60);
    const follow = reader(buffers, 'r2');
    await waitUntil(() => follow.events().length === 1, 'first event', 1000);
    state.down = true;
    const ended = await Promise.race([follow.done.then(() => true), Bun.sleep(2000).then(() => false)]);
    state.down = false;
    expect(ended).toBe(true);
    const last = follow.events().at(-1)!;
    expect(last.event).toBe('error');
    expect(JSON.parse(last.data).code).toBe('unavailable');
    // Resuming after it (Last-Event-ID) misses nothing: events appended meanwhile come next.
    expect(last.id).toBe(first);
    await buffers.append('r2', 'note', '"two"', 60);
    await buffers.end('r2', 60);
    const resumed = reader(buffers, 'r2', last.id);
    await Promise.race([resumed.done, Bun.sleep(2000)]);
    expect(resumed.events().map((event) => event.data)).toEqual(['"two"']);
  });
});
