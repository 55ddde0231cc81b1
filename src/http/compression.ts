// Response compression, in one place: brotli or gzip, as the client's Accept-Encoding asks, for
// JSON bodies, the OpenAPI document and the docs' script and styles once they reach a size.
// Never for event streams (each event must leave at once), websocket upgrades, bodies already
// encoded or marked `no-transform`, or HEAD. What is compressed says `Vary: Accept-Encoding`, and
// its Content-Length is that of the compressed bytes (Bun sets it from the body).
import { brotliCompressSync, constants } from 'node:zlib';
import { Elysia } from 'elysia';
import { idempotencyHeader } from './idempotency.ts';

export type Encoding = 'br' | 'gzip';

/**
 * The coding to send for an Accept-Encoding value: the acceptable one (q > 0) of br and gzip with
 * the higher q, brotli on a tie; `*` stands for those not named; `x-gzip` is gzip. Null for none.
 */
export function negotiateEncoding(acceptEncoding: string | null): Encoding | null {
  if (!acceptEncoding) return null;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [rawName, ...params] = part.split(';');
    const name = rawName?.trim().toLowerCase();
    if (!name) continue;
    let weight = 1;
    for (const param of params) {
      const match = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(param);
      if (match) weight = Number(match[1]);
    }
    if (!Number.isFinite(weight)) weight = 0;
    q.set(name === 'x-gzip' ? 'gzip' : name, Math.min(weight, 1));
  }
  const weightOf = (coding: Encoding) => q.get(coding) ?? q.get('*') ?? 0;
  const br = weightOf('br');
  const gzip = weightOf('gzip');
  if (br <= 0 && gzip <= 0) return null;
  return br >= gzip ? 'br' : 'gzip';
}

/** JSON (also `+json`), JavaScript, CSS and HTML: text that compresses well. */
const compressibleType = /^(?:application\/(?:[\w.+-]+\+)?json|(?:text|application)\/javascript|text\/css|text\/html)\s*(?:;|$)/i;

export function compress(bytes: Uint8Array<ArrayBuffer>, encoding: Encoding): Uint8Array<ArrayBuffer> {
  if (encoding === 'gzip') return Bun.gzipSync(bytes);
  // Quality 5: most of brotli's gain over gzip at a fraction of the CPU of its default 11.
  const out = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 5,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
    },
  });
  return new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, out.byteLength);
}

function appendVary(headers: Headers) {
  const vary = headers.get('vary');
  if (!vary) headers.set('vary', 'Accept-Encoding');
  else if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(vary)) headers.set('vary', `${vary}, Accept-Encoding`);
}

function headersOf(setHeaders: Record<string, unknown>, base?: Headers): Headers {
  const headers = new Headers(base);
  for (const [name, value] of Object.entries(setHeaders)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      headers.delete(name);
      for (const item of value) headers.append(name, String(item));
    } else if (!headers.has(name) || name.toLowerCase() !== 'content-type') headers.set(name, String(value));
  }
  return headers;
}

export type CompressionOptions = { minBytes: number };

type Context = {
  request: Request;
  set: { status?: number | string; headers: Record<string, unknown> };
  responseValue: unknown;
  /** Set when the response is what onError made. */
  error?: unknown;
};

/**
 * Compresses what routes answer, as a global mapResponse (after the handler, before Elysia turns
 * the value into a Response). A request with an Idempotency-Key is left alone: its route keeps the
 * response to replay in a mapResponse of its own, which Elysia skips once one has answered.
 */
export function compression({ minBytes }: CompressionOptions) {
  return new Elysia({ name: 'compression' }).mapResponse({ as: 'global' }, async (context) => {
    const { responseValue, error } = context as unknown as Context;
    const compressed = await compressResponse(context as unknown as Context, minBytes);
    if (compressed) return compressed;
    // Elysia's error handler sends what the last mapResponse returned, even undefined (an empty
    // body): there, what onError made is handed back unchanged.
    // (Typed as a Response because Elysia's hook type allows no other value; it sends any.)
    return (error instanceof Error ? responseValue : undefined) as Response | undefined;
  });
}

async function compressResponse(context: Context, minBytes: number): Promise<Response | undefined> {
  const { request, set, responseValue } = context;
  if (request.method === 'HEAD' || request.headers.get('upgrade') || request.headers.has(idempotencyHeader)) return;
  const status = Number(set.status ?? 200);

  if (responseValue instanceof Response) {
    // Whole bodies only (files, documents): event streams are excluded by their type (and their no-transform).
    const type = responseValue.headers.get('content-type');
    if (!type || !compressibleType.test(type) || responseValue.headers.has('content-encoding')) return;
    if (/no-transform/i.test(responseValue.headers.get('cache-control') ?? '')) return;
    if (responseValue.body === null || responseValue.bodyUsed) return;
    const bytes = new Uint8Array(await responseValue.arrayBuffer());
    return encode({ request, set }, bytes, headersOf(set.headers, responseValue.headers), responseValue.status, minBytes, true);
  }
  // Plain objects and arrays become JSON, as Elysia would send them; strings, files and the rest are left to it.
  if (!isPlainJson(responseValue)) return;
  const type = set.headers['content-type'];
  if (type !== undefined && !compressibleType.test(String(type))) return;
  const headers = headersOf(set.headers);
  if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  return encode({ request, set }, new TextEncoder().encode(JSON.stringify(responseValue)), headers, status, minBytes, false);
}

function isPlainJson(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Array.isArray(value);
}

/**
 * The response to send for `bytes`: compressed when they reach `minBytes` and the client accepts
 * a coding (with Vary either way from that size on); below it, as they are (undefined, for Elysia
 * to send the value, unless the body was already read from a Response).
 */
function encode(
  { request, set }: Pick<Context, 'request' | 'set'>,
  bytes: Uint8Array<ArrayBuffer>,
  headers: Headers,
  status: number,
  minBytes: number,
  bodyRead: boolean,
): Response | undefined {
  if (bytes.byteLength < minBytes) return bodyRead ? new Response(bytes, { status, headers }) : undefined;
  appendVary(headers);
  // Elysia copies set.headers onto the response it is given: they must agree.
  set.headers.vary = headers.get('vary');
  headers.delete('content-length');
  const encoding = negotiateEncoding(request.headers.get('accept-encoding'));
  if (!encoding) return new Response(bytes, { status, headers });
  headers.set('content-encoding', encoding);
  return new Response(compress(bytes, encoding), { status, headers });
}
