// The provider SDKs' own connection pool. Bun's global `fetch` opens at most 256 connections
// per process (BUN_CONFIG_MAX_HTTP_REQUESTS), read once when the process starts: a setting
// made from code afterwards is ignored, so replies past the 256th would queue before their
// upstream request even left. node:http agents have no such cap and take their limit here.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export type UpstreamFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A `fetch` for the SDKs (their `fetch` option) over keep-alive node:http(s) agents holding at
 * most `maxConnections` sockets per origin. Streams the response body as it arrives; aborting
 * `init.signal` destroys the request and its socket.
 */
export function createUpstreamFetch(maxConnections: number): UpstreamFetch {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: maxConnections, maxFreeSockets: 256 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: maxConnections, maxFreeSockets: 256 }),
  };

  return async (input, init = {}) => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request ? request.url : input.toString());
    const signal = init.signal ?? request?.signal ?? undefined;
    signal?.throwIfAborted();
    const headers = new Headers(init.headers ?? request?.headers);
    const body = await bodyBytes(init.body ?? request?.body ?? null, headers);
    if (body) headers.set('content-length', String(body.byteLength));
    const transport = url.protocol === 'https:' ? https : http;
    const agent = agents[url.protocol as keyof typeof agents];
    if (!agent) throw new TypeError(`Unsupported protocol ${url.protocol}`);

    return new Promise<Response>((resolve, reject) => {
      const outgoing = transport.request(
        url,
        { method: init.method ?? request?.method ?? 'GET', headers: Object.fromEntries(headers), agent },
        (incoming) => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) {
            if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
            else if (value !== undefined) responseHeaders.set(name, value);
          }
          const status = incoming.statusCode ?? 502;
          // A null-body status must get a null body, or Response's constructor throws.
          const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
          if (nullBody) incoming.resume();
          resolve(
            new Response(nullBody ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), {
              status,
              statusText: incoming.statusMessage,
              headers: responseHeaders,
            }),
          );
        },
      );
      const onAbort = () => {
        const reason = signal?.reason ?? new DOMException('This operation was aborted', 'AbortError');
        outgoing.destroy(reason);
        reject(reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      outgoing.on('close', () => signal?.removeEventListener('abort', onAbort));
      outgoing.on('error', (error) => reject(new TypeError('fetch failed', { cause: error })));
      outgoing.end(body ?? undefined);
    });
  };
}

/** The request body as bytes (SDK bodies are small JSON or form data); sets a content-type when the body implies one. */
async function bodyBytes(body: NonNullable<RequestInit['body']> | null, headers: Headers): Promise<Uint8Array | null> {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  const wrapped = new Response(body);
  const type = wrapped.headers.get('content-type');
  if (type && !headers.has('content-type')) headers.set('content-type', type);
  return new Uint8Array(await wrapped.arrayBuffer());
}
