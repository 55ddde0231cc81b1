import type { KeyValueStore } from './types.ts';

/** One event of a stream, as stored and as sent over SSE (`id:`, `event:`, `data:`). */
export type BufferedEvent = { id: string; event: string; data: string };

export type StreamMeta = {
  ownerId: string;
  kind: 'generation' | 'generic';
  createdAt: string;
  ttlSeconds: number;
  /** KV key a live producer keeps refreshing; when it lapses before the end, the producer died. */
  producerAliveKey?: string;
};

const entriesKey = (id: string) => `stream:${id}:events`;
const metaKey = (id: string) => `stream:${id}:meta`;
const channel = (id: string) => `stream:${id}`;
// Marks the end of a stream in the buffer; never sent to clients as an event.
const endMarker = '__end';

export type FollowOptions = {
  afterId?: string;
  signal: AbortSignal;
  /** How long to wait quietly before checking the producer is alive (and emitting a ping). */
  idleMs?: number;
};

export type FollowItem = { type: 'event'; event: BufferedEvent } | { type: 'idle' };

/** What a reader hands on: an event, or a ping while the stream is quiet. */
export type ReaderItem = BufferedEvent | { ping: true };

/**
 * Append-only stream buffers in KV (Redis Streams, or memory): producers append events,
 * readers replay after an id and then follow live through pub/sub notifications. Any instance
 * can serve any reader, so resume, many instances and websockets are one mechanism.
 */
export function createStreamBuffers(kv: KeyValueStore, defaults: { idleMs?: number } = {}) {
  let followers = 0;
  // Streams a producer in this process is writing: alive by definition, whatever its heartbeat
  // key says (a process whose event loop lags far behind can miss a heartbeat, yet still finish).
  const producing = new Set<string>();
  const readMeta = async (id: string): Promise<StreamMeta | null> => {
    const raw = await kv.get(metaKey(id));
    return raw ? (JSON.parse(raw) as StreamMeta) : null;
  };

  const toEvents = (entries: { id: string; fields: Record<string, string> }[]) =>
    entries.map((entry) => ({ id: entry.id, event: entry.fields.event ?? 'message', data: entry.fields.data ?? '' }));

  return {
    async create(id: string, meta: Omit<StreamMeta, 'createdAt'>): Promise<StreamMeta> {
      const full: StreamMeta = { ...meta, createdAt: new Date().toISOString() };
      await kv.set(metaKey(id), JSON.stringify(full), { ttlMs: meta.ttlSeconds * 1000 });
      return full;
    },

    meta: readMeta,

    /** Readers following a stream right now, on this instance (for leak checks and metrics). */
    activeFollowers: () => followers,

    async append(id: string, event: string, data: string, ttlSeconds: number): Promise<string> {
      const entryId = await kv.streamAppend(entriesKey(id), { event, data }, { ttlMs: ttlSeconds * 1000 });
      await kv.publish(channel(id), entryId);
      return entryId;
    },

    /** Ends the stream: readers stop after the events before this. Keeps it for its TTL. */
    async end(id: string, ttlSeconds: number): Promise<void> {
      await this.append(id, endMarker, '', ttlSeconds);
      await kv.set(metaKey(id), JSON.stringify({ ...(await readMeta(id)), ended: true }), { ttlMs: ttlSeconds * 1000 });
    },

    /** Every event so far, and whether the stream has ended. */
    async snapshot(id: string): Promise<{ events: BufferedEvent[]; ended: boolean }> {
      const events = toEvents(await kv.streamRead(entriesKey(id)));
      const ended = events.some((event) => event.event === endMarker);
      return { events: events.filter((event) => event.event !== endMarker), ended };
    },

    length: (id: string) => kv.streamLength(entriesKey(id)),

    async remove(id: string): Promise<void> {
      await kv.del(entriesKey(id), metaKey(id));
      await kv.publish(channel(id), 'removed');
    },

    /** Marks `id` as written by this process until `release()` is called. */
    produce(id: string): () => void {
      producing.add(id);
      return () => void producing.delete(id);
    },

    /** False only when the producer is elsewhere and its heartbeat key has lapsed. */
    async isProducerAlive(id: string, meta: StreamMeta): Promise<boolean> {
      if (producing.has(id)) return true;
      return meta.producerAliveKey ? kv.exists(meta.producerAliveKey) : true;
    },

    /**
     * Replays after `afterId`, then follows live until the end marker or the signal. Yields
     * `idle` after `idleMs` without events so the caller can ping and check on the producer.
     * Subscribes before reading, so nothing appended in between is missed.
     */
    async *follow(id: string, { afterId, signal, idleMs = defaults.idleMs ?? 15_000 }: FollowOptions): AsyncGenerator<FollowItem> {
      let lastId = afterId;
      let wake: (() => void) | undefined;
      let pending = true;
      const notify = () => {
        pending = true;
        wake?.();
      };
      const unsubscribe = await kv.subscribe(channel(id), notify);
      const onAbort = () => wake?.();
      signal.addEventListener('abort', onAbort);
      followers++;
      try {
        while (!signal.aborted) {
          if (pending) {
            pending = false;
            const events = toEvents(await kv.streamRead(entriesKey(id), { afterId: lastId }));
            for (const event of events) {
              if (event.event === endMarker) return;
              lastId = event.id;
              yield { type: 'event', event };
              if (signal.aborted) return;
            }
            if (!(await kv.exists(metaKey(id))) && events.length === 0) return;
            continue;
          }
          let timer: Timer | undefined;
          const woke = await new Promise<boolean>((resolve) => {
            wake = () => resolve(true);
            timer = setTimeout(() => resolve(false), idleMs);
          });
          clearTimeout(timer);
          wake = undefined;
          if (woke || signal.aborted) continue;
          // Pub/sub delivers at most once: a quiet spell also re-reads, so a lost notification
          // (an event, or the end) costs one idle interval instead of leaving the reader stuck.
          pending = true;
          yield { type: 'idle' };
        }
      } finally {
        followers--;
        signal.removeEventListener('abort', onAbort);
        await unsubscribe();
      }
    },
  };
}

export type StreamBuffers = ReturnType<typeof createStreamBuffers>;

/**
 * The one reader of a stream buffer, for SSE and websockets alike: replay after `afterId`, then
 * live, with a ping while idle. If the producer stopped beating without ending the stream (its
 * instance died), the reader gets an `interrupted` error instead of waiting forever.
 */
export async function* readStream(
  buffers: StreamBuffers,
  streamId: string,
  options: { afterId?: string; signal: AbortSignal; idleMs?: number },
): AsyncGenerator<ReaderItem> {
  let lastId = options.afterId ?? '0-0';
  for await (const item of buffers.follow(streamId, options)) {
    if (item.type === 'event') {
      lastId = item.event.id;
      yield item.event;
      continue;
    }
    const meta = await buffers.meta(streamId);
    if (meta && !(await buffers.isProducerAlive(streamId, meta).catch(() => true))) {
      // Recheck: the end may have landed between the idle tick and the liveness check.
      const { ended } = await buffers.snapshot(streamId);
      if (ended) continue;
      yield {
        id: `${lastId}-interrupted`,
        event: 'error',
        data: JSON.stringify({ code: 'interrupted', message: 'The server producing this stream stopped' }),
      };
      return;
    }
    yield { ping: true };
  }
}
