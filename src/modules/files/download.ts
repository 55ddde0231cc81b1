// What GET /files/:id/content answers, by HTTP's rules for a stored representation: conditional
// requests on the ETag (RFC 9110 §13), single byte ranges (§14), and an attachment name as RFC 6266
// writes it. The bytes come from storage as a stream; only the headers are made here.
import { encodeExtended } from 'content-disposition';
import { AppError } from '../../http/errors.ts';
import type { ByteRange } from '../../infra/storage/index.ts';

/** The ETag of a file: its sha256, quoted (a strong validator: same tag, same bytes). */
export const etagOf = (sha256: string) => `"${sha256}"`;

/** Whether an If-None-Match value names `etag` (weak comparison, as §13.1.2 asks), or is `*`. */
export function matchesNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * The one range to send of a file of `size` bytes, from a Range header: undefined for the whole
 * file (no header, a unit other than bytes, several ranges, or a malformed value: §14.2 lets a
 * server ignore those), or throws 416 `range_not_satisfiable` when the range lies past the end.
 */
export function rangeOf(header: string | null, size: number): ByteRange | undefined {
  if (header === null) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // A suffix: the last N bytes (all of them when N ≥ size).
    const length = Number(last);
    if (length === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) throw unsatisfiable(size);
  return { start, end };
}

const unsatisfiable = (size: number) =>
  new AppError('range_not_satisfiable', `The range asked for is outside the file's ${size} bytes`, {
    headers: { 'content-range': `bytes */${size}` },
  });

/**
 * `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>` (RFC 6266
 * with RFC 8187's encoding, by the content-disposition package): every client finds a name it can
 * read, and the fallback never carries a quote, backslash or non-ASCII character.
 */
export function attachmentOf(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=${encodeExtended(name)}`;
}

export type StoredFile = { name: string; contentType: string; size: number; sha256: string };

/** The request headers a download answers to. */
export type DownloadHeaders = { range: string | null; ifNoneMatch: string | null; ifRange: string | null };

/** The headers every answer about a file's content carries, whole or a range. */
export function contentHeaders(file: StoredFile): Record<string, string> {
  return {
    'content-type': file.contentType,
    'content-disposition': attachmentOf(file.name),
    'x-content-type-options': 'nosniff',
    'accept-ranges': 'bytes',
    etag: etagOf(file.sha256),
    // Private to its owner; revalidated each time (cheap, by ETag); never re-encoded on the way.
    'cache-control': 'private, no-cache, no-transform',
  };
}
