// A multipart/form-data body as a stream of file parts, parsed by @fastify/busboy as the bytes
// arrive: nothing is buffered beyond the parser's small windows, and the body is read no faster
// than the consumer takes each file's bytes (busboy holds its write callback while a file stream
// is full, so `write` reports backpressure and the pump waits for `drain`).
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { Busboy, type BusboyFileStream } from '@fastify/busboy';
import { AppError, invalid } from '../../http/errors.ts';

/** One file of the body: the form field it came in, the name and type the client gave, and its bytes. */
export type FilePart = { field: string; filename: string; declaredType: string; bytes: AsyncIterable<Uint8Array> };

/** The body stopped before its end: the client went away, or sent a truncated body. */
export const cutOff = () => invalid('body', 'ended before the end of the multipart body (the upload was cut off)');

type Event = { kind: 'file'; part: FilePart } | { kind: 'end' } | { kind: 'error'; error: unknown };

/**
 * The file parts of `body` in order, each to be read to its end (or abandoned by leaving the
 * loop) before the next is parsed. Text fields are read and ignored (each at most 16 KiB, at most
 * 20 of them). Leaving the loop early (a refused file) stops reading the body and cancels it.
 * Errors: 422 `validation_error` for a content type without a boundary, a malformed or cut-off
 * body; 413 when the body has more parts than `maxParts`.
 */
export async function* fileParts(body: ReadableStream<Uint8Array>, contentType: string, maxParts: number): AsyncGenerator<FilePart> {
  let parser: InstanceType<typeof Busboy>;
  try {
    parser = Busboy({
      headers: { 'content-type': contentType },
      // Paths are kept: the name is sanitised once, by our own rules (names.ts).
      preservePath: true,
      limits: { parts: maxParts + 20, fields: 20, fieldSize: 16 * 1024, headerPairs: 20, fieldNameSize: 200 },
    });
  } catch {
    throw invalid('header.content-type', 'must be multipart/form-data with a boundary');
  }
  const queue: Event[] = [];
  let wake: (() => void) | undefined;
  const push = (event: Event) => {
    queue.push(event);
    wake?.();
  };
  let current: Readable | undefined;
  parser.on('file', (field: string, stream: BusboyFileStream, filename: string, _encoding: string, declaredType: string) => {
    // busboy emits a part's errors on its stream directly: without a listener they would be thrown.
    stream.on('error', () => undefined);
    current = stream;
    push({ kind: 'file', part: { field, filename, declaredType, bytes: stream } });
  });
  parser.on('field', () => undefined);
  parser.on('finish', () => push({ kind: 'end' }));
  parser.on('error', (error: unknown) => push({ kind: 'error', error }));
  parser.on('partsLimit', () =>
    push({ kind: 'error', error: new AppError('payload_too_large', `An upload has at most ${maxParts} files`) }),
  );

  const reader = body.getReader();
  const stop = new AbortController();
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stop.signal.aborted) break;
        if (!parser.write(value)) await once(parser, 'drain', { signal: stop.signal });
      }
      if (!stop.signal.aborted) parser.end();
    } catch {
      if (stop.signal.aborted) return;
      // The body failed midway (the client went away): the file being read fails with it.
      const failure = cutOff();
      current?.destroy(failure);
      push({ kind: 'error', error: failure });
    }
  })();

  let finished = false;
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const event = queue.shift()!;
      if (event.kind === 'end') {
        finished = true;
        return;
      }
      if (event.kind === 'error') throw asAppError(event.error);
      yield event.part;
      // A part the consumer did not read to its end is drained, so the parser can go on.
      (event.part.bytes as Readable).resume();
    }
  } finally {
    if (!finished) {
      stop.abort();
      await reader.cancel().catch(() => undefined);
      current?.destroy();
    }
    await pump;
  }
}

/** busboy's own errors (a malformed body, an early end) as 422; ours as they are. */
export function asAppError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/unexpected end|terminated early/i.test(message)) return cutOff();
  return invalid('body', `is not a well-formed multipart body (${message})`);
}
