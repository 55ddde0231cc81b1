import { AppError, conflict, invalid, notFound } from '../../http/errors.ts';
import { isEventId } from '../../http/event-id.ts';
import { streamAsSse } from '../../http/sse.ts';
import type { Infra } from '../../infra/index.ts';
import type { StreamBuffers, StreamMeta } from '../../infra/kv/stream-buffers.ts';

const bytesKey = (id: string) => `stream:${id}:bytes`;

/** Generic streams: a caller's own append-only event log, replayable and followable from any instance. */
export function createStreamsService(infra: Infra, buffers: StreamBuffers) {
  const { config, kv } = infra;

  /** Any kind of stream, but only its owner's: another user's stream is a 404. */
  const owned = async (userId: string, id: string): Promise<StreamMeta & { ended?: boolean }> => {
    const meta = (await buffers.meta(id)) as (StreamMeta & { ended?: boolean }) | null;
    if (!meta || meta.ownerId !== userId) throw notFound('Stream');
    return meta;
  };

  return {
    owned,

    async create(userId: string, ttlSeconds = config.streamTtlSeconds) {
      const id = Bun.randomUUIDv7();
      await buffers.create(id, { ownerId: userId, kind: 'generic', ttlSeconds });
      return { id, ttlSeconds };
    },

    async append(userId: string, id: string, event: string, data: unknown) {
      const meta = await owned(userId, id);
      if (meta.kind !== 'generic') throw conflict('Only streams made with POST /streams take appends');
      if (meta.ended) throw conflict('This stream is closed');
      const text = JSON.stringify(data ?? null);
      const size = Buffer.byteLength(text);
      if (size > config.streamMaxBytes) throw new AppError('payload_too_large', `An event is limited to ${config.streamMaxBytes} bytes`);
      if ((await buffers.length(id)) >= config.streamMaxEvents)
        throw conflict(`This stream holds its limit of ${config.streamMaxEvents} events`);
      const total = await kv.incr(bytesKey(id), { by: size, ttlMs: meta.ttlSeconds * 1000 });
      if (total > config.streamMaxBytes) {
        await kv.incr(bytesKey(id), { by: -size });
        throw new AppError('payload_too_large', `A stream is limited to ${config.streamMaxBytes} bytes of data`);
      }
      return { id: await buffers.append(id, event, text, meta.ttlSeconds) };
    },

    async close(userId: string, id: string) {
      const meta = await owned(userId, id);
      if (meta.kind !== 'generic') throw conflict('A reply’s stream ends by itself; cancel the message to stop it');
      if (!meta.ended) await buffers.end(id, meta.ttlSeconds);
    },

    async remove(userId: string, id: string) {
      const meta = await owned(userId, id);
      if (meta.kind === 'generation' && !meta.ended && !(await buffers.snapshot(id)).ended) throw conflict('This reply is still streaming');
      await buffers.remove(id);
      await kv.del(bytesKey(id));
    },

    async dump(userId: string, id: string) {
      const meta = await owned(userId, id);
      const { events, ended } = await buffers.snapshot(id);
      return {
        id,
        kind: meta.kind,
        closed: ended,
        events: events.map((event) => ({ id: event.id, event: event.event, data: parseData(event.data) })),
      };
    },

    /** Replay after `afterId`, then follow, as SSE (a reply's stream or a generic one: one reader for both). */
    sse(id: string, afterId?: string): Response {
      return streamAsSse(buffers, id, { afterId });
    },

    /** An `after` id must be one of ours in form (Redis refuses others with an error): anything else is a 422, not a silent replay. */
    checkAfter(after: string | undefined, field = 'header.last-event-id'): string | undefined {
      if (after === undefined || after === '') return undefined;
      if (!isEventId(after)) throw invalid(field, 'is not an event id of this stream');
      return after;
    },
  };
}

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export type StreamsService = ReturnType<typeof createStreamsService>;
