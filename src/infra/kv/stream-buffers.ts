import { KvUnavailableError } from './errors.ts';
import type { KeyValueStore, Unsubscribe } from './types.ts';

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

/** The largest stream entry id (both parts 2^64 - 1): a client may send it as the id to resume after. */
const lastPossibleId = '18446744073709551615-18446744073709551615';

/** Whether a stored meta says the stream was ended (`end` marks it once the end marker is in the buffer). */
const isEndedMeta = (raw: string | null): boolean => {
  if (!raw) return false;
  try {
    return (JSON.parse(raw) as { ended?: unknown }).ended === true;
  } catch {
    return false;
  }
};

export type FollowOptions = {
  afterId?: string;
  signal: AbortSignal;
  /** How long to wait quietly before checking the producer is alive (and emitting a ping). */
  idleMs?: number;
};

/** `unavailable`: the KV stayed unreachable longer than the reader's patience; the follow ends. */
export type FollowItem = { type: 'event'; event: BufferedEvent } | { type: 'idle' } | { type: 'unavailable' };

/**
 * How the buffers ride out a KV outage (defaults in brackets). A producer's append waits for the
 * KV up to `holdMs` [10 s]; then the producer is let go and its events are kept here, in order, to
 * be written once the KV is back, for up to `keepMs` [5 min] and `maxHeldBytes` [32 MiB] in all
 * (past either, that stream's held events are dropped). A reader waits up to `patienceMs` [30 s],
 * re-reading every `pollMs` [200 ms] meanwhile and for a while after, then ends with an
 * `unavailable` error.
 */
export type StreamBufferOptions = {
  idleMs?: number;
  holdMs?: number;
  keepMs?: number;
  maxHeldBytes?: number;
  patienceMs?: number;
  pollMs?: number;
};

/** A stream this process produces: its writes go one after another, retried while the KV is away. */
type Producer = {
  /** The last write queued: the next starts after it, so events keep their order. */
  tail: Promise<unknown>;
  /** The last entry known to be in the buffer: an append retried after a lost answer looks after it first. */
  lastId?: string;
  /** When the current outage began, for this stream's writes. */
  outageSince?: number;
  /** Writes no longer wait for the KV: they are queued here and written when it is back. */
  detached: boolean;
  /** Held too long or too much: what is queued is dropped, and later writes fail. */
  dropped: boolean;
  /** Callers waiting for their write, let go when the producer is detached. */
  waiters: Set<() => void>;
  queued: number;
  released: boolean;
};

/**
 * Append-only stream buffers in KV (Redis Streams, or memory): producers append events,
 * readers replay after an id and then follow live through pub/sub notifications. Any instance
 * can serve any reader, so resume, many instances and websockets are one mechanism.
 */
export function createStreamBuffers(kv: KeyValueStore, defaults: StreamBufferOptions = {}) {
  const holdMs = defaults.holdMs ?? 10_000;
  const keepMs = defaults.keepMs ?? 300_000;
  const maxHeldBytes = defaults.maxHeldBytes ?? 32 * 1024 * 1024;
  const patienceMs = defaults.patienceMs ?? 30_000;
  const pollMs = defaults.pollMs ?? 200;
  // After an outage, keep re-reading this long: notifications published before pub/sub was
  // subscribed again are lost.
  const settleMs = Math.max(2000, pollMs * 5);
  let followers = 0;
  let heldBytes = 0;
  // Streams a producer in this process is writing (or still has writes queued for): alive by
  // definition, whatever its heartbeat key says (a process whose event loop lags far behind can
  // miss a heartbeat, yet still finish).
  const producers = new Map<string, Producer>();
  const readMeta = async (id: string): Promise<StreamMeta | null> => {
    const raw = await kv.get(metaKey(id));
    return raw ? (JSON.parse(raw) as StreamMeta) : null;
  };

  // Nothing can follow the largest id there is, and Redis refuses a range starting after it.
  const readAfter = (id: string, afterId?: string) =>
    afterId === lastPossibleId ? Promise.resolve([]) : kv.streamRead(entriesKey(id), { afterId });

  const toEvents = (entries: { id: string; fields: Record<string, string> }[]) =>
    entries.map((entry) => ({ id: entry.id, event: entry.fields.event ?? 'message', data: entry.fields.data ?? '' }));

  const forgetIfDone = (id: string, producer: Producer) => {
    if (producer.released && producer.queued === 0 && producers.get(id) === producer) producers.delete(id);
  };
  const detach = (producer: Producer) => {
    producer.detached = true;
    for (const release of producer.waiters) release();
    producer.waiters.clear();
  };

  /** Runs `attempt` until it works, while the KV is away (see StreamBufferOptions); other errors are thrown at once. */
  const persist = async <T>(producer: Producer, operation: string, attempt: () => Promise<T>): Promise<T> => {
    for (let delay = Math.min(50, pollMs); ; delay = Math.min(delay * 2, pollMs * 5)) {
      if (producer.dropped) throw new KvUnavailableError(operation, 'the events held during the outage were dropped');
      try {
        const result = await attempt();
        producer.outageSince = undefined;
        producer.detached = false;
        return result;
      } catch (error) {
        if (!(error instanceof KvUnavailableError)) throw error;
        const now = Date.now();
        producer.outageSince ??= now;
        const away = now - producer.outageSince;
        if (away >= keepMs) producer.dropped = true;
        else if (away >= holdMs && !producer.detached) detach(producer);
        if (producer.dropped) throw error;
        await Bun.sleep(delay);
      }
    }
  };

  /**
   * Queues one write of a produced stream behind the ones before it. Resolves with its result, or
   * with `fallback` once the producer is detached (the write still happens when the KV is back).
   */
  const enqueue = <T>(id: string, producer: Producer, bytes: number, write: () => Promise<T>, fallback: T): Promise<T> => {
    if (producer.detached && heldBytes + bytes > maxHeldBytes) producer.dropped = true;
    if (producer.dropped) return Promise.reject(new KvUnavailableError('append', 'the events held during the outage were dropped'));
    producer.queued++;
    heldBytes += bytes;
    const settled = producer.tail.then(write).finally(() => {
      producer.queued--;
      heldBytes -= bytes;
      forgetIfDone(id, producer);
    });
    producer.tail = settled.catch(() => undefined);
    if (producer.detached) return Promise.resolve(fallback);
    return new Promise<T>((resolve, reject) => {
      const letGo = () => resolve(fallback);
      producer.waiters.add(letGo);
      settled.then(resolve, reject).finally(() => producer.waiters.delete(letGo));
    });
  };

  /** Appends to a produced stream, once: a retry first looks for the entry a lost answer may have hidden (one writer, so it is ours). */
  const appendOnce = (id: string, producer: Producer, fields: Record<string, string>, ttlMs: number) => {
    let tried = false;
    return async (): Promise<string> => {
      if (tried) {
        const after = await kv.streamRead(entriesKey(id), { afterId: producer.lastId });
        const landed = after.find((entry) => entry.fields.event === fields.event && entry.fields.data === fields.data);
        if (landed) return landed.id;
      }
      tried = true;
      return kv.streamAppend(entriesKey(id), fields, { ttlMs });
    };
  };

  return {
    async create(id: string, meta: Omit<StreamMeta, 'createdAt'>): Promise<StreamMeta> {
      const full: StreamMeta = { ...meta, createdAt: new Date().toISOString() };
      await kv.set(metaKey(id), JSON.stringify(full), { ttlMs: meta.ttlSeconds * 1000 });
      return full;
    },

    meta: readMeta,

    /** Readers following a stream right now, on this instance (for leak checks and metrics). */
    activeFollowers: () => followers,

    /**
     * Appends an event; resolves with its entry id. On a stream this process produces, an
     * unreachable KV does not fail the append: it waits (see StreamBufferOptions), and once the
     * producer is let go it resolves with '' while the event waits here to be written. Elsewhere
     * it rejects with KvUnavailableError.
     */
    async append(id: string, event: string, data: string, ttlSeconds: number): Promise<string> {
      const producer = producers.get(id);
      if (!producer) {
        const entryId = await kv.streamAppend(entriesKey(id), { event, data }, { ttlMs: ttlSeconds * 1000 });
        await kv.publish(channel(id), entryId);
        return entryId;
      }
      const attempt = appendOnce(id, producer, { event, data }, ttlSeconds * 1000);
      const write = async () => {
        const entryId = await persist(producer, 'streamAppend', attempt);
        producer.lastId = entryId;
        // Readers re-read on their own after an outage, so a lost notification costs nothing here.
        await kv.publish(channel(id), entryId).catch(() => undefined);
        return entryId;
      };
      return enqueue(id, producer, data.length + event.length, write, '');
    },

    /** Ends the stream: readers stop after the events before this. Keeps it for its TTL. */
    async end(id: string, ttlSeconds: number): Promise<void> {
      await this.append(id, endMarker, '', ttlSeconds);
      const markEnded = async () => {
        await kv.set(metaKey(id), JSON.stringify({ ...(await readMeta(id)), ended: true }), { ttlMs: ttlSeconds * 1000 });
      };
      const producer = producers.get(id);
      if (!producer) return markEnded();
      await enqueue(id, producer, 0, () => persist(producer, 'end', markEnded), undefined);
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

    /**
     * Marks `id` as written by this process until `release()` is called (and its held writes, if
     * any, are done): its appends ride out a KV outage (see append).
     */
    produce(id: string): () => void {
      const producer: Producer = producers.get(id) ?? {
        tail: Promise.resolve(),
        detached: false,
        dropped: false,
        waiters: new Set(),
        queued: 0,
        released: false,
      };
      producer.released = false;
      producers.set(id, producer);
      return () => {
        producer.released = true;
        forgetIfDone(id, producer);
      };
    },

    /** Bytes of events this process holds for a KV that is away (for tests and metrics). */
    heldBytes: () => heldBytes,

    /** False only when the producer is elsewhere and its heartbeat key has lapsed. */
    async isProducerAlive(id: string, meta: StreamMeta): Promise<boolean> {
      if (producers.has(id)) return true;
      return meta.producerAliveKey ? kv.exists(meta.producerAliveKey) : true;
    },

    /**
     * Replays after `afterId`, then follows live until the end marker or the signal. Yields
     * `idle` after `idleMs` without events so the caller can ping and check on the producer.
     * Subscribes before reading, so nothing appended in between is missed. While the KV is away
     * it waits, re-reading every `pollMs`, and yields `unavailable` (then ends) after `patienceMs`.
     */
    async *follow(id: string, { afterId, signal, idleMs = defaults.idleMs ?? 15_000 }: FollowOptions): AsyncGenerator<FollowItem> {
      let lastId = afterId;
      let wake: (() => void) | undefined;
      let pending = true;
      const notify = () => {
        pending = true;
        wake?.();
      };
      let unsubscribe: Unsubscribe | undefined;
      let outageSince: number | undefined;
      // Until then, re-read every pollMs: during an outage, and for a while after it.
      let pollUntil = 0;
      let quietSince = Date.now();
      let firstRead = true;
      const onAbort = () => wake?.();
      signal.addEventListener('abort', onAbort);
      followers++;
      try {
        while (!signal.aborted) {
          if (pending) {
            pending = false;
            let events: BufferedEvent[] = [];
            let gone = false;
            // The stream is closed and `events` holds all it has after lastId: end after them.
            let complete = false;
            try {
              unsubscribe ??= await kv.subscribe(channel(id), notify);
              events = toEvents(await readAfter(id, lastId));
              if (events.length === 0) {
                // Nothing after lastId: the stream may be closed with lastId at or past its end
                // marker (a resume after any id beyond its last event), which no read after lastId
                // will ever show. The meta says so (it is marked only once the marker is in).
                const raw = await kv.get(metaKey(id));
                gone = raw === null;
                let closed = !gone && isEndedMeta(raw);
                // A stream whose mark was lost (its closer died in between): for a resume after a
                // given id, once, look for the marker itself.
                if (!gone && !closed && firstRead && afterId !== undefined) {
                  closed = (await kv.streamRead(entriesKey(id))).some((entry) => entry.fields.event === endMarker);
                }
                if (closed) {
                  // Read again: events appended (before the end) since the first read are in now.
                  events = toEvents(await readAfter(id, lastId));
                  complete = true;
                }
              }
              firstRead = false;
              outageSince = undefined;
            } catch (error) {
              if (!(error instanceof KvUnavailableError)) throw error;
              const now = Date.now();
              outageSince ??= now;
              if (now - outageSince >= patienceMs) {
                yield { type: 'unavailable' };
                return;
              }
              pollUntil = now + settleMs;
              pending = true;
            }
            for (const event of events) {
              if (event.event === endMarker) return;
              lastId = event.id;
              quietSince = Date.now();
              yield { type: 'event', event };
              if (signal.aborted) return;
            }
            if (gone || complete) return;
            // A notification came while reading: read again at once.
            if (pending && outageSince === undefined) continue;
          }
          const now = Date.now();
          const untilIdle = Math.max(quietSince + idleMs - now, 0);
          // A store that says it is degraded may lose notifications even where reads work.
          if (kv.status() !== 'ok') pollUntil = now + settleMs;
          const polling = outageSince !== undefined || now < pollUntil;
          let timer: Timer | undefined;
          const woke = await new Promise<boolean>((resolve) => {
            wake = () => resolve(true);
            timer = setTimeout(() => resolve(false), polling ? Math.min(pollMs, untilIdle) : untilIdle);
          });
          clearTimeout(timer);
          wake = undefined;
          if (woke || signal.aborted) continue;
          // Pub/sub delivers at most once: a quiet spell also re-reads, so a lost notification
          // (an event, or the end) costs one idle interval (one poll, near an outage) instead of
          // leaving the reader stuck.
          pending = true;
          if (Date.now() - quietSince >= idleMs) {
            quietSince = Date.now();
            yield { type: 'idle' };
          }
        }
      } finally {
        followers--;
        signal.removeEventListener('abort', onAbort);
        await unsubscribe?.().catch(() => undefined);
      }
    },
  };
}

export type StreamBuffers = ReturnType<typeof createStreamBuffers>;
