import http from 'node:http';

/**
 * The most bytes of request line and headers Bun reads before it answers 431 itself, with an
 * empty body that no hook of ours can shape. Bun's default (16 KiB) is close enough to what the
 * routes take that a query string a little over a route's limit (`?q=` of 20,000 characters, where
 * 200 are allowed) got that bare 431 instead of the 422 naming the field. Above this, still 431.
 */
export const maxRequestHeadBytes = 64 * 1024;

/**
 * Raises Bun's process-wide limit (the `--max-http-header-size` flag, which `node:http`'s
 * `maxHeaderSize` sets at run time too, for the compiled executable as well) to `bytes`, never
 * lowering it. Call before the server starts listening.
 */
export function raiseRequestHeadLimit(bytes = maxRequestHeadBytes): void {
  const settable = http as { maxHeaderSize: number };
  if (settable.maxHeaderSize < bytes) settable.maxHeaderSize = bytes;
}
