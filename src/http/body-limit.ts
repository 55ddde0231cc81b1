import { AppError } from './errors.ts';

/**
 * Enforces a body limit whatever the framing: a declared `Content-Length` over the limit is
 * refused without reading; otherwise (chunked bodies, or a length within the limit) the bytes are
 * counted as they arrive, through a clone of the request, and the count stops with a 413 as soon as
 * it passes the limit. Nothing is buffered beyond the limit plus one chunk, and the original body
 * is left unread for the route's parser, which therefore only ever sees a body within the limit.
 *
 * Runs before routing, so an oversized body never reaches validation, a handler, the database or
 * an upstream; nor does one that `inspect` refuses as its bytes pass. Bun's `maxRequestBodySize`
 * (src/index.ts) stays the server-wide outer bound.
 */
export async function enforceBodyLimit(
  request: Request,
  maxBytes: number,
  message: string,
  /** Sees each chunk as it is counted, and may refuse the body by throwing (see input-check.ts's jsonDepthScanner). */
  inspect?: (chunk: Uint8Array) => void,
): Promise<void> {
  if (request.body === null) return;
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(message);
  // A clone tees the stream: the route still reads the original. The clone's branch is read to
  // the end or released, never cancelled (Bun stalls the original branch when one is cancelled).
  const reader = request.clone().body?.getReader();
  if (!reader) return;
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      // A body that fails midway (the client went away) is left to the route's parser, which
      // meets the same failure and answers it as it always has.
      if (done || !value) return;
      received += value.byteLength;
      if (received > maxBytes) throw tooLarge(message);
      inspect?.(value);
    }
  } finally {
    reader.releaseLock();
  }
}

const tooLarge = (message: string) => new AppError('payload_too_large', message);
