// Reading a stream buffer as its readers need it (SSE and websockets): the buffer's follow, with
// the KV's absence and a dead producer turned into error events a client can act on.
import { KvUnavailableError } from './errors.ts';
import type { BufferedEvent, StreamBuffers } from './stream-buffers.ts';

/** What a reader hands on: an event, or a ping while the stream is quiet. */
export type ReaderItem = BufferedEvent | { ping: true };

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
    if (item.type === 'unavailable') {
      // The id of the last event delivered: resuming after it (Last-Event-ID) misses nothing.
      yield {
        id: lastId,
        event: 'error',
        data: JSON.stringify({
          code: 'unavailable',
          message: 'The store holding this stream is unreachable; read it again from your last event once it is back',
        }),
      };
      return;
    }
    let interrupted = false;
    try {
      const meta = await buffers.meta(streamId);
      // Recheck: the end may have landed between the idle tick and the liveness check.
      interrupted =
        meta !== null && !(await buffers.isProducerAlive(streamId, meta).catch(() => true)) && !(await buffers.snapshot(streamId)).ended;
    } catch (error) {
      // The KV is away: the follower rides that out (or gives up) on its own.
      if (!(error instanceof KvUnavailableError)) throw error;
    }
    if (interrupted) {
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
