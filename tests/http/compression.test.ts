// Response compression: brotli or gzip by Accept-Encoding for JSON over COMPRESSION_MIN_BYTES,
// the OpenAPI document and the docs assets; never for SSE; Vary and Content-Length right. The raw
// bytes are read from app.handle (no client in between) and from the real server with
// `decompress: false`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { brotliDecompressSync } from 'node:zlib';
import { negotiateEncoding } from '../../src/http/compression.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, createChat, register, sendMessage } from '../helpers/client.ts';

function decode(bytes: Uint8Array<ArrayBuffer>, encoding: string | null): string {
  if (encoding === 'br') return brotliDecompressSync(bytes).toString('utf8');
  if (encoding === 'gzip') return new TextDecoder().decode(Bun.gunzipSync(bytes));
  return new TextDecoder().decode(bytes);
}

async function raw(response: Response) {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const encoding = response.headers.get('content-encoding');
  return { bytes, encoding, text: decode(bytes, encoding) };
}

test('happy: negotiation honours q-values and prefers brotli on a tie', () => {
  expect(negotiateEncoding('gzip, deflate, br')).toBe('br');
  expect(negotiateEncoding('gzip')).toBe('gzip');
  expect(negotiateEncoding('br;q=0.5, gzip;q=0.8')).toBe('gzip');
  expect(negotiateEncoding('br;q=0, gzip')).toBe('gzip');
  expect(negotiateEncoding('gzip;q=0, br;q=0')).toBeNull();
  expect(negotiateEncoding('*')).toBe('br');
  expect(negotiateEncoding('*;q=0.1, gzip;q=0.5')).toBe('gzip');
  expect(negotiateEncoding('identity')).toBeNull();
  expect(negotiateEncoding('x-gzip')).toBe('gzip');
  expect(negotiateEncoding('')).toBeNull();
  expect(negotiateEncoding(null)).toBeNull();
});

describe('compression', () => {
  let app: TestApp;
  let token: string;
  let server: string;

  beforeAll(async () => {
    app = await createTestApp();
    token = (await register(app)).accessToken;
    // A list comfortably over 1 KiB.
    for (let i = 0; i < 12; i++) await createChat(app, token, { title: `A chat with a long enough title to add up, number ${i}` });
    app.app.listen({ port: 0, hostname: '127.0.0.1' });
    server = `http://127.0.0.1:${app.app.server!.port}`;
  });
  afterAll(async () => {
    await app.app.stop(true);
    await app.close();
  });

  const list = (acceptEncoding?: string) =>
    app.request('/api/v1/chats', { headers: { ...bearer(token), ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) } });

  test.each([
    ['br', 'br'],
    ['gzip', 'gzip'],
    ['gzip, deflate, br', 'br'],
    ['br;q=0.2, gzip', 'gzip'],
  ] as const)('happy: a large JSON list with Accept-Encoding %s is sent %s and decodes to the same JSON', async (accept, expected) => {
    const plain = await raw(await list());
    expect(plain.encoding).toBeNull();
    expect(plain.bytes.byteLength).toBeGreaterThan(1024);
    const res = await list(accept);
    expect(res.status).toBe(200);
    expect(res.headers.get('vary')).toContain('Accept-Encoding');
    expect(res.headers.get('content-type')).toStartWith('application/json');
    const body = await raw(res);
    expect(body.encoding).toBe(expected);
    expect(body.bytes.byteLength).toBeLessThan(plain.bytes.byteLength);
    expect(JSON.parse(body.text)).toEqual(JSON.parse(plain.text));
    // The request id and the security headers are still there.
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  test('happy: without Accept-Encoding (or identity only) the large list is sent as is, still with Vary', async () => {
    for (const accept of [undefined, 'identity', 'br;q=0, gzip;q=0']) {
      const res = await list(accept);
      expect(res.headers.get('content-encoding')).toBeNull();
      expect(res.headers.get('vary')).toContain('Accept-Encoding');
      expect(((await res.json()) as { data: unknown[] }).data.length).toBe(12);
    }
  });

  test('happy: a small JSON response is not compressed', async () => {
    const res = await app.request('/health', { headers: { 'accept-encoding': 'br, gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  test('happy: errors stay readable whatever is accepted', async () => {
    const res = await app.request('/api/v1/chats', { headers: { 'accept-encoding': 'br' } });
    expect(res.status).toBe(401);
    const body = await raw(res);
    expect(JSON.parse(body.text).error.code).toBeTruthy();
  });

  test('error: refusals made before routing (415) keep their JSON body and headers whatever is accepted', async () => {
    const res = await app.request('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'accept-encoding': 'br, gzip' },
      body: 'x'.repeat(5000),
    });
    expect(res.status).toBe(415);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    const body = await raw(res);
    expect(JSON.parse(body.text).error.code).toBe('unsupported_media_type');
  });

  test('happy: a large error body (422 naming many fields) is compressed and decodes to the error', async () => {
    const res = await app.request('/api/v1/chats', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: JSON.stringify({ title: 42, ['x'.repeat(2000)]: 1 }),
    });
    expect(res.status).toBe(422);
    const body = await raw(res);
    expect(JSON.parse(body.text).error.code).toBe('validation_error');
    // The body names the 2000-character field: over the threshold.
    expect(body.text.length).toBeGreaterThan(1024);
    expect(body.encoding).toBe('gzip');
    expect(res.headers.get('vary')).toContain('Accept-Encoding');
  });

  test('happy: a POST with an Idempotency-Key is sent uncompressed, and its repeat replays the same JSON', async () => {
    const key = crypto.randomUUID();
    const send = () =>
      app.request('/api/v1/chats', {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json', 'accept-encoding': 'br', 'idempotency-key': key },
        body: JSON.stringify({ title: 'T'.repeat(190) }),
      });
    const first = await send();
    expect(first.status).toBe(201);
    expect(first.headers.get('content-encoding')).toBeNull();
    const firstBody = await first.json();
    const again = await send();
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.headers.get('content-encoding')).toBeNull();
    expect(await again.json()).toEqual(firstBody);
  });

  test('happy: the OpenAPI document and the docs assets are compressed', async () => {
    for (const [path, type] of [
      ['/swagger/json', 'application/json'],
      ['/swagger/assets/swagger-ui-bundle.js', 'text/javascript'],
      ['/swagger/assets/swagger-ui.css', 'text/css'],
    ] as const) {
      const plain = await raw(await app.request(path));
      const res = await app.request(path, { headers: { 'accept-encoding': 'gzip, br' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type') ?? '').toStartWith(type);
      expect(res.headers.get('vary')).toContain('Accept-Encoding');
      const body = await raw(res);
      expect(body.encoding).toBe('br');
      expect(body.bytes.byteLength).toBeLessThan(plain.bytes.byteLength / 2);
      expect(body.text).toBe(plain.text);
    }
    const doc = await raw(await app.request('/swagger/json', { headers: { 'accept-encoding': 'gzip' } }));
    expect(JSON.parse(doc.text).openapi).toStartWith('3.');
  });

  test('happy: on the real server the raw bytes are brotli, with a Content-Length that is theirs', async () => {
    const res = await fetch(`${server}/api/v1/chats`, { headers: { ...bearer(token), 'accept-encoding': 'br' }, decompress: false });
    expect(res.headers.get('content-encoding')).toBe('br');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const length = res.headers.get('content-length');
    if (length !== null) expect(Number(length)).toBe(bytes.byteLength);
    expect(JSON.parse(decode(bytes, 'br')).data.length).toBeGreaterThanOrEqual(12);
    // An ordinary client (that decompresses) reads the same JSON.
    const plain = await fetch(`${server}/api/v1/chats`, { headers: bearer(token) });
    expect(((await plain.json()) as { data: unknown[] }).data.length).toBeGreaterThanOrEqual(12);
  });

  test('happy: the docs asset from the real server decodes to the file', async () => {
    const res = await fetch(`${server}/swagger/assets/swagger-ui.css`, { headers: { 'accept-encoding': 'gzip' }, decompress: false });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const length = res.headers.get('content-length');
    if (length !== null) expect(Number(length)).toBe(bytes.byteLength);
    expect(decode(bytes, 'gzip')).toContain('.swagger-ui');
  });

  test('error: an SSE reply is never compressed', async () => {
    const chat = await createChat(app, token);
    const res = await fetch(`${server}/api/v1/chats/${chat.id}/messages`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json', 'accept-encoding': 'br, gzip' },
      body: JSON.stringify({ content: 'hello there' }),
      decompress: false,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    expect(res.headers.get('content-encoding')).toBeNull();
    const text = await res.text();
    expect(text).toContain('event: done');
    // In process too.
    const inProcess = await sendMessage(app, token, chat.id, { content: 'again' });
    expect(inProcess.headers.get('content-encoding')).toBeNull();
    await inProcess.text();
  });

  test('security: a websocket upgrade is not touched by compression', async () => {
    const ws = new WebSocket(`${server.replace('http', 'ws')}/api/v1/ws`, { headers: { 'accept-encoding': 'br' } } as never);
    const opened = await new Promise<boolean>((resolve) => {
      ws.onopen = () => resolve(true);
      ws.onerror = () => resolve(false);
      setTimeout(() => resolve(false), 3000);
    });
    expect(opened).toBe(true);
    ws.close();
  });
});
