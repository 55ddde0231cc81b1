// Every body limit holds whatever the framing (../shared/cases/2026-11-30-bug-reports.md #9): a JSON
// body over 1 MiB is 413 payload_too_large with Content-Length or chunked, counted as the bytes
// arrive, before validation and any handler, and nothing of it is stored or sent upstream.
// Real HTTP: the app listens on a random port and raw fetch sends the bodies.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Elysia, t } from 'elysia';
import { enforceBodyLimit } from '../../src/http/body-limit.ts';
import { errorHandler } from '../../src/http/error-handler.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { requestGuard } from '../../src/http/request-log.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, type Json, register, uniqueEmail } from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';
import { expectOpenAiError } from '../helpers/openai.ts';

const MiB = 1024 * 1024;
const encoder = new TextEncoder();
type Framing = 'chunked' | 'content-length';
const framings: Framing[] = ['chunked', 'content-length'];

/** `value` as JSON padded with trailing whitespace (still valid JSON) to exactly `bytes` bytes. */
function jsonOfSize(value: unknown, bytes: number): string {
  const text = JSON.stringify(value);
  const size = encoder.encode(text).byteLength;
  if (size > bytes) throw new Error(`${size} bytes of JSON do not fit in ${bytes}`);
  return text + ' '.repeat(bytes - size);
}

/** A body that arrives in 64 KiB pieces over a stream: fetch sends it with Transfer-Encoding: chunked. */
function chunkedBody(text: string, pieceBytes = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = encoder.encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + pieceBytes));
      offset += pieceBytes;
    },
  });
}

function postRaw(url: string, text: string, framing: Framing, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: framing === 'chunked' ? chunkedBody(text) : text,
    duplex: 'half',
  } as RequestInit);
}

async function expectTooLarge(response: Response): Promise<Json> {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith('413 ');
  const body = JSON.parse(text);
  expect(body.error.code).toBe('payload_too_large');
  expect(body.error.message).toContain(String(MiB));
  expect(body.error.requestId).toBe(response.headers.get('x-request-id'));
  return body;
}

describe('the test client', () => {
  test('happy: a stream body really goes out chunked, with no Content-Length', async () => {
    const seen: { transferEncoding: string | null; contentLength: string | null }[] = [];
    const probe = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(request) {
        seen.push({ transferEncoding: request.headers.get('transfer-encoding'), contentLength: request.headers.get('content-length') });
        return new Response(String((await request.arrayBuffer()).byteLength));
      },
    });
    try {
      const chunked = await postRaw(`http://127.0.0.1:${probe.port}/`, 'x'.repeat(200_000), 'chunked');
      const sized = await postRaw(`http://127.0.0.1:${probe.port}/`, 'x'.repeat(200_000), 'content-length');
      expect([await chunked.text(), await sized.text()]).toEqual(['200000', '200000']);
      expect(seen).toEqual([
        { transferEncoding: 'chunked', contentLength: null },
        { transferEncoding: null, contentLength: '200000' },
      ]);
    } finally {
      await probe.stop(true);
    }
  });
});

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

for (const [name, kind] of kinds) {
  describe(`JSON body limit over real HTTP on ${name}`, () => {
    let app: TestApp;
    let server: { stop: (force?: boolean) => unknown; port: number };
    let base: string;
    let user: Account;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
      // No maxRequestBodySize here: Bun's default (128 MB) is far above the limit, so the app enforces it.
      server = app.app.listen({ port: 0, hostname: '127.0.0.1' }).server as unknown as typeof server;
      base = `http://127.0.0.1:${server.port}`;
      user = await register(app);
    });
    afterAll(async () => {
      await server?.stop(true);
      await app?.close();
    });

    const completionOf = (bytes: number) =>
      jsonOfSize(
        {
          model: 'openai/gpt-4o-mini',
          messages: [
            ...Array.from({ length: 30 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: 'x'.repeat(1000) })),
            { role: 'user', content: 'hi' },
          ],
        },
        bytes,
      );
    const generationCalls = () => fake.requests.filter((request) => request.method === 'POST');
    const messagesOf = async (chatId: string) => {
      const response = await fetch(`${base}/api/v1/chats/${chatId}/messages?limit=100`, { headers: bearer(user.accessToken) });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: unknown[] }).data;
    };

    for (const framing of framings) {
      test(`error: a 3 MB body to /v1/chat/completions is 413 (${framing}), and nothing reaches the upstream`, async () => {
        fake.reset();
        const response = await postRaw(`${base}/v1/chat/completions`, completionOf(3 * MiB), framing, bearer(user.accessToken));
        // In OpenAI's shape, as on every /v1 route.
        const body = await expectOpenAiError(response, 413, 'invalid_request_error', { code: 'request_too_large' });
        expect(body.error.message).toContain(String(MiB));
        expect(fake.requests).toEqual([]);
      });

      test(`error: a 3 MB message to /api/v1/chats/:id/messages is 413 (${framing}), not 422, and nothing is stored or sent`, async () => {
        const chat = await createChat(app, user.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
        fake.reset();
        // Over every schema bound too: the size is refused before validation would say 422.
        const body = jsonOfSize({ content: 'y'.repeat(3 * MiB - 100), stream: false }, 3 * MiB);
        await expectTooLarge(await postRaw(`${base}/api/v1/chats/${chat.id}/messages`, body, framing, bearer(user.accessToken)));
        // Within the schema, padded with JSON whitespace: only the byte count is wrong.
        const padded = jsonOfSize({ content: 'a valid question', stream: false }, 3 * MiB);
        await expectTooLarge(await postRaw(`${base}/api/v1/chats/${chat.id}/messages`, padded, framing, bearer(user.accessToken)));
        expect(await messagesOf(chat.id)).toEqual([]);
        expect(fake.requests).toEqual([]);
      });

      test(`error: a 3 MB body to /api/v1/auth/register is 413 (${framing}), and no account is created`, async () => {
        const email = uniqueEmail('huge');
        const password = 'a-long-enough-password';
        const body = jsonOfSize({ email, password, name: 'n' }, 3 * MiB);
        await expectTooLarge(await postRaw(`${base}/api/v1/auth/register`, body, framing));
        const login = await fetch(`${base}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password }),
        });
        expect(login.status).toBe(401);
        await login.arrayBuffer();
      });
    }

    test('happy: bodies just under the limit, chunked, are accepted on each route', async () => {
      fake.reset();
      const completion = await postRaw(`${base}/v1/chat/completions`, completionOf(MiB - 64), 'chunked', bearer(user.accessToken));
      expect(completion.status).toBe(200);
      expect(((await completion.json()) as { object: string }).object).toBe('chat.completion');
      expect(generationCalls()).toHaveLength(1);

      const chat = await createChat(app, user.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const message = jsonOfSize({ content: 'just under the limit', stream: false }, MiB - 64);
      const sent = await postRaw(`${base}/api/v1/chats/${chat.id}/messages`, message, 'chunked', bearer(user.accessToken));
      expect(sent.status).toBe(200);
      await sent.arrayBuffer();
      expect((await messagesOf(chat.id)).map((row) => (row as { role: string }).role)).toEqual(['user', 'assistant']);

      const registered = await postRaw(
        `${base}/api/v1/auth/register`,
        jsonOfSize({ email: uniqueEmail('under'), password: 'a-long-enough-password' }, MiB - 64),
        'chunked',
      );
      expect(registered.status).toBe(201);
      await registered.arrayBuffer();
    });

    test('error: the limit is exact: 1 MiB chunked is accepted, 1 MiB + 1 byte is 413', async () => {
      const at = await postRaw(
        `${base}/api/v1/auth/register`,
        jsonOfSize({ email: uniqueEmail('exact'), password: 'a-long-enough-password' }, MiB),
        'chunked',
      );
      expect(at.status).toBe(201);
      await at.arrayBuffer();
      const over = jsonOfSize({ email: uniqueEmail('over'), password: 'a-long-enough-password' }, MiB + 1);
      await expectTooLarge(await postRaw(`${base}/api/v1/auth/register`, over, 'chunked'));
    });

    test('happy: the server keeps answering after refusing oversized bodies', async () => {
      await expectTooLarge(await postRaw(`${base}/api/v1/auth/register`, jsonOfSize({}, 5 * MiB), 'chunked'));
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
    });

    test('security: a body over the limit in many tiny chunks is counted as it arrives', async () => {
      const text = jsonOfSize({ email: uniqueEmail('tiny'), password: 'a-long-enough-password' }, MiB + 4096);
      const bytes = encoder.encode(text);
      let offset = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.byteLength) return controller.close();
          controller.enqueue(bytes.slice(offset, offset + 1000));
          offset += 1000;
        },
      });
      const response = await fetch(`${base}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit);
      await expectTooLarge(response);
    });
  });
}

describe('body limits in the request guard (in process)', () => {
  const log = createLogger('silent');
  const app = new Elysia()
    .use(errorHandler(log))
    .use(requestGuard({ log, metrics: createMetrics(), maxJsonBytes: 1024 }))
    .post('/items', ({ body }) => ({ size: JSON.stringify(body).length }), { body: t.Object({ name: t.String() }) })
    .post('/upload', () => ({ ok: true }));
  const streamed = (text: string, type = 'application/json') =>
    app.handle(new Request('http://localhost/items', { method: 'POST', headers: { 'content-type': type }, body: chunkedBody(text, 100) }));

  test('error: a streamed JSON body over the limit is 413 before validation', async () => {
    const response = await streamed(JSON.stringify({ wrong: 'x'.repeat(2000) }));
    expect(response.status).toBe(413);
    expect(((await response.json()) as Json).error.code).toBe('payload_too_large');
  });

  test('happy: a streamed JSON body within the limit reaches the route whole', async () => {
    const value = { name: 'é'.repeat(400) };
    const response = await streamed(jsonOfSize(value, 1024));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ size: JSON.stringify(value).length });
  });

  test('error: a multipart body is 415 on a route that takes no uploads, however it is framed', async () => {
    const response = await app.handle(
      new Request('http://localhost/upload', {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        body: chunkedBody('z'.repeat(5000), 100),
      }),
    );
    expect(response.status).toBe(415);
    expect(((await response.json()) as Json).error.code).toBe('unsupported_media_type');
  });

  test('error: a declared Content-Length over the limit is refused without reading the body', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(10));
      },
    });
    const request = new Request('http://localhost/items', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(2 * MiB) },
      body,
      duplex: 'half',
    } as RequestInit);
    await expect(enforceBodyLimit(request, MiB, 'too big')).rejects.toMatchObject({ code: 'payload_too_large', status: 413 });
    expect(pulled).toBeLessThanOrEqual(1);
  });
});
