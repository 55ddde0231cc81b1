// Server-sent events on every streaming route: `id:`, `event:` and one JSON `data:` line per
// event, `: ping` comments while idle, and no proxy buffering. Written by hand on a
// ReadableStream so a client that leaves is noticed at once (cancel) and nothing is buffered
// without bound: the stream pulls the next event only when the client has read the last one.

export type SseItem = { id: string; event: string; data: string } | { ping: true };

export const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

const encoder = new TextEncoder();

export function formatSse(item: SseItem): Uint8Array {
  if ('ping' in item) return encoder.encode(': ping\n\n');
  const data = item.data.replace(/\r?\n/g, '\ndata: ');
  return encoder.encode(`id: ${item.id}\nevent: ${item.event}\ndata: ${data}\n\n`);
}

/**
 * Streams `source` as SSE. `onClose` runs once, when the source ends or the client leaves;
 * the abort controller it gets is what tells the source to stop.
 */
export function sseResponse(
  source: (signal: AbortSignal) => AsyncIterable<SseItem>,
  options: { headers?: Record<string, string>; onClose?: () => void; format?: (item: SseItem) => Uint8Array } = {},
): Response {
  const controller = new AbortController();
  let iterator: AsyncIterator<SseItem> | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    controller.abort();
    options.onClose?.();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(stream) {
      iterator ??= source(controller.signal)[Symbol.asyncIterator]();
      try {
        const next = await iterator.next();
        if (next.done) {
          close();
          stream.close();
          return;
        }
        stream.enqueue((options.format ?? formatSse)(next.value));
      } catch (error) {
        close();
        stream.error(error);
      }
    },
    async cancel() {
      close();
      await iterator?.return?.();
    },
  });
  return new Response(body, { headers: { ...sseHeaders, ...options.headers } });
}
