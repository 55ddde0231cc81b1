// Server-sent events on every streaming route: `id:`, `event:` and one JSON `data:` line per
// event, `: ping` comments while idle, and no proxy buffering. Written by hand on a
// ReadableStream so a client that leaves is noticed at once (cancel) and nothing is buffered
// without bound: the stream pulls the next event only when the client has read the last one.

import type { StreamBuffers } from '../infra/kv/stream-buffers.ts';
import { readStream, type ReaderItem as SseItem } from '../infra/kv/stream-reader.ts';

export type { ReaderItem as SseItem } from '../infra/kv/stream-reader.ts';

export const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

const encoder = new TextEncoder();

// Each SSE response's end (source done, or client gone), so the access log and the duration
// histogram can measure a stream until it ends rather than until its headers left.
const settled = new WeakMap<Response, Promise<void>>();

/** Resolves when `response`'s SSE stream has ended; undefined for any other response. */
export function streamSettled(response: unknown): Promise<void> | undefined {
  return response instanceof Response ? settled.get(response) : undefined;
}

// The stream buffer each buffer-backed SSE response reads, so a retried request can be answered
// by replaying the same stream (see idempotency.ts) without the route saying which it was.
const sources = new WeakMap<Response, string>();

/** The id of the stream buffer `response` replays (made by streamAsSse); undefined for any other response. */
export function streamIdOf(response: unknown): string | undefined {
  return response instanceof Response ? sources.get(response) : undefined;
}

// How to end each SSE response early (see sseEnder).
const enders = new WeakMap<Response, (last: (lastId: string | undefined) => SseItem) => void>();

/**
 * For an SSE response made here, a function that ends it early: it sends the item `last` makes
 * (given the id of the last event sent), then ends the body and stops the source, whether or
 * not the client is reading. Undefined for any other response. Used when the reader's
 * credentials are revoked or expire.
 */
export function sseEnder(response: unknown): ((last: (lastId: string | undefined) => SseItem) => void) | undefined {
  return response instanceof Response ? enders.get(response) : undefined;
}

export function formatSse(item: SseItem): Uint8Array {
  if ('ping' in item) return encoder.encode(': ping\n\n');
  const data = item.data.replace(/\r?\n/g, '\ndata: ');
  return encoder.encode(`id: ${item.id}\nevent: ${item.event}\ndata: ${data}\n\n`);
}

/** What a caller may add to an SSE response. */
export type SseOptions = {
  /** Called once if the client leaves before the source ended (not when it ends, nor when sseEnder ends it). */
  onClientGone?: () => void;
};

/**
 * Streams `source` as SSE (or in `format`). When the source ends or the client leaves, the
 * signal it was given aborts, which is what tells the source to stop. Routes whose events come
 * from no stream buffer (voice's pipeline) use it directly; they are not resumable.
 */
export function sseResponse(
  source: (signal: AbortSignal) => AsyncIterable<SseItem>,
  format: (item: SseItem) => Uint8Array = formatSse,
  afterId?: string,
  options: SseOptions = {},
): Response {
  const controller = new AbortController();
  let iterator: AsyncIterator<SseItem> | undefined;
  let output: ReadableStreamDefaultController<Uint8Array> | undefined;
  let lastId = afterId;
  let closed = false;
  let ended!: () => void;
  const end = new Promise<void>((resolve) => (ended = resolve));
  const close = () => {
    if (closed) return;
    closed = true;
    controller.abort();
    ended();
  };
  const body = new ReadableStream<Uint8Array>({
    start(stream) {
      output = stream;
    },
    async pull(stream) {
      iterator ??= source(controller.signal)[Symbol.asyncIterator]();
      try {
        const next = await iterator.next();
        // Ended early (sseEnder) while waiting: the body is already closed.
        if (closed) return;
        if (next.done) {
          close();
          stream.close();
          return;
        }
        if (!('ping' in next.value)) lastId = next.value.id;
        stream.enqueue(format(next.value));
      } catch (error) {
        if (closed) return;
        close();
        stream.error(error);
      }
    },
    async cancel() {
      if (closed) return;
      close();
      options.onClientGone?.();
      await iterator?.return?.();
    },
  });
  const response = new Response(body, { headers: sseHeaders });
  settled.set(response, end);
  enders.set(response, (last) => {
    if (closed) return;
    close();
    output?.enqueue(format(last(lastId)));
    output?.close();
    // The source may be waiting for its next item: it sees the abort, and returns after it.
    void iterator?.return?.()?.catch(() => undefined);
  });
  return response;
}

/**
 * A stream buffer as SSE: replay after `afterId`, then live, pings while quiet (readStream).
 * `format` writes each item in another wire format (OpenAI's chunks) instead of SSE events.
 */
export function streamAsSse(
  buffers: StreamBuffers,
  streamId: string,
  options: { afterId?: string; format?: (item: SseItem) => Uint8Array } & SseOptions = {},
): Response {
  const response = sseResponse(
    (signal) => readStream(buffers, streamId, { afterId: options.afterId, signal }),
    options.format,
    options.afterId,
    { onClientGone: options.onClientGone },
  );
  sources.set(response, streamId);
  return response;
}

/**
 * `source`'s items, with a `: ping` every `everyMs` of waiting for the next one, so that a quiet
 * stage (a model thinking, a synthesis) never lets a proxy or the server's idle timeout cut the
 * stream. Returning early returns `source` too.
 */
export async function* withPings(source: AsyncIterable<SseItem>, everyMs: number): AsyncGenerator<SseItem> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = iterator.next();
      for (;;) {
        let timer: Timer | undefined;
        const ping = new Promise<'ping'>((resolve) => {
          timer = setTimeout(() => resolve('ping'), everyMs);
        });
        const first = await Promise.race([next, ping]).finally(() => clearTimeout(timer));
        if (first === 'ping') {
          yield { ping: true };
          continue;
        }
        if (first.done) return;
        yield first.value;
        break;
      }
    }
  } finally {
    // Not awaited: a source still waiting for its next item returns once its signal has stopped it.
    void iterator.return?.()?.catch(() => undefined);
  }
}
