// Plumbing both storages share: key checks, iterating a source, and a read stream whose first
// chunk is fetched before it is handed out.
import type { ByteSource } from './types.ts';

const keyPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Throws a TypeError unless `key` is a storage key the server could have made (never a path). */
export function assertKey(key: string): void {
  if (!keyPattern.test(key) || key.includes('..')) throw new TypeError(`not a storage key: ${JSON.stringify(key)}`);
}

export const isKey = (key: string): boolean => keyPattern.test(key) && !key.includes('..');

/** The chunks of a source, whichever kind it is. */
export function chunksOf(source: ByteSource): AsyncIterable<Uint8Array> {
  return source instanceof ReadableStream ? (source as unknown as AsyncIterable<Uint8Array>) : source;
}

/** Marks errors that came from the source being written, so storages rethrow them as they were. */
export class SourceError {
  constructor(readonly error: unknown) {}
}

/** The source's chunks, with whatever it throws wrapped in SourceError (told apart from storage failures). */
export async function* fromSource(source: ByteSource): AsyncGenerator<Uint8Array> {
  const iterator = chunksOf(source)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await iterator.next();
    } catch (error) {
      throw new SourceError(error);
    }
    if (next.done) return;
    yield next.value;
  }
}

/**
 * Reads the first chunk of `stream` now (so that a missing blob or an unreachable store fails
 * here, where it can still become a 404 or a 503), then hands out a stream of that chunk and the
 * rest, pulled from the source only as the reader asks. Errors of the first read go to `fail`.
 */
export async function primed(stream: ReadableStream<Uint8Array>, fail: (error: unknown) => never): Promise<ReadableStream<Uint8Array>> {
  const reader = stream.getReader();
  let first: Awaited<ReturnType<typeof reader.read>>;
  try {
    first = await reader.read();
  } catch (error) {
    reader.releaseLock();
    fail(error);
  }
  let pending: Uint8Array | undefined = first.done ? undefined : first.value;
  let ended = first.done;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (pending) {
          controller.enqueue(pending);
          pending = undefined;
          return;
        }
        if (ended) return controller.close();
        const next = await reader.read();
        if (next.done) {
          ended = true;
          controller.close();
        } else controller.enqueue(next.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
