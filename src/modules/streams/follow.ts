import type { SseItem } from '../../http/sse.ts';
import type { StreamBuffers } from './buffer.ts';

/**
 * A stream buffer as SSE items: replay after `afterId`, then live, with a ping while idle. If
 * the producer stopped beating without ending the stream (its instance died), the reader gets
 * an `interrupted` error instead of waiting forever.
 */
export async function* followAsSse(
  buffers: StreamBuffers,
  streamId: string,
  options: { afterId?: string; signal: AbortSignal; idleMs?: number },
): AsyncGenerator<SseItem> {
  let lastId = options.afterId ?? '0-0';
  for await (const item of buffers.follow(streamId, options)) {
    if (item.type === 'event') {
      lastId = item.event.id;
      yield item.event;
      continue;
    }
    const meta = await buffers.meta(streamId);
    if (meta && !(await buffers.isProducerAlive(meta).catch(() => true))) {
      // Recheck: the end may have landed between the idle tick and the liveness check.
      const { ended } = await buffers.snapshot(streamId);
      if (ended) continue;
      yield { id: `${lastId}-interrupted`, event: 'error', data: JSON.stringify({ code: 'interrupted', message: 'The server producing this stream stopped' }) };
      return;
    }
    yield { ping: true };
  }
}
