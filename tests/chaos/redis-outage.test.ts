// F4 of the break-it run: Redis cut for a second or two (a TCP proxy between the app and Redis,
// tests/helpers/tcp-proxy.ts), on SQLite and on Postgres. Every route that needs the KV answers 503
// `unavailable` with Retry-After (never 500) while it is away and works again after; a refused
// send stores nothing; a running reply rides the outage out with its stored text equal to what was
// streamed; a websocket that cannot subscribe is told so and closed. Routes that need only the
// database (sign-in, lists) keep working: rate limits fail open.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type StorageKind, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  adminKey,
  asAdmin,
  bearer,
  createApiKey,
  createChat,
  expectStatus,
  getChat,
  type Http,
  httpOf,
  type Json,
  register,
  sendMessage,
  streamMessage,
  uniqueWords,
} from '../helpers/client.ts';
import { hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';
import { startTcpProxy, type TcpProxy, targetOf, throughProxy } from '../helpers/tcp-proxy.ts';
import { waitUntil } from '../helpers/wait.ts';
import { WsClient } from '../helpers/ws.ts';
import { expectNoUnhandled, expectUnavailable, kvStatus } from './outage.ts';

const kinds: [string, StorageKind][] = [['sqlite+redis', { database: 'sqlite', kv: 'redis' }]];
if (hasPostgres) kinds.push(['postgres+redis', { database: 'postgres', kv: 'redis' }]);

// The echo provider's pause between words: a reply of n words takes about n × this.
const echoDelayMs = 10;
// How long a reply that rides the outage out keeps Redis away: longer than that reply (30 words).
const cutMs = 500;

for (const [name, kind] of kinds) {
  describe.if(hasRedis)(`Redis outage on ${name}`, () => {
    let t: TestApp;
    let http: Http;
    let proxy: TcpProxy;
    let wsUrl: string;
    let user: Account;
    let apiKey: string;

    beforeAll(async () => {
      proxy = startTcpProxy(targetOf(redisUrl, 6379));
      t = await createTestApp(kind, {
        REDIS_URL: throughProxy(redisUrl, proxy),
        ADMIN_API_KEY: adminKey,
        // Limits on, so their KV windows are in the path, and far from being reached.
        RATE_LIMIT_ENABLED: 'true',
        RATE_LIMIT_MAX_REQUESTS: '100000',
        AUTH_RATE_LIMIT_MAX: '100000',
        RATELIMIT_PER_MINUTE: '100000',
        RATELIMIT_PER_HOUR: '100000',
        RATELIMIT_PER_DAY: '100000',
        ECHO_DELAY_MS: String(echoDelayMs),
        SSE_PING_MS: '500',
      });
      t.app.listen({ port: 0, hostname: '127.0.0.1' });
      wsUrl = `ws://127.0.0.1:${t.app.server!.port}/api/v1/ws`;
      http = httpOf(t);
      user = await register(http);
      apiKey = (await createApiKey(http, user.accessToken)).key;
    });
    afterAll(async () => {
      await proxy?.restore();
      await t?.app.stop(true);
      await t?.close();
      proxy?.close();
    });

    /** Cuts Redis for the duration of `during`, then restores it and waits for the app to reconnect. */
    const withRedisCut = async <T>(during: () => Promise<T>): Promise<T> => {
      proxy.cut();
      try {
        await kvStatus(t, 'degraded');
        return await during();
      } finally {
        await proxy.restore();
        await kvStatus(t, 'ok');
      }
    };

    const auth = () => bearer(user.accessToken);
    const post = (path: string, json: unknown, headers: Record<string, string> = auth()) => http(path, { method: 'POST', headers, json });

    test('error: every route that needs the KV answers 503 unavailable with Retry-After while Redis is cut, and works again after', async () => {
      const chat = await createChat(http, user.accessToken, { provider: 'echo', model: 'echo' });
      const first = await streamMessage(http, user.accessToken, chat.id, { content: 'before the cut' });
      expect(first.done).toBeDefined();
      const reply = first.start.messageId as string;
      const question = first.start.userMessageId as string;
      const stream = await expectStatus(await post('/api/v1/streams', {}), 201);
      await expectStatus(await post(`/api/v1/streams/${stream.id}/append`, { event: 'note', data: 1 }), 202);
      const before = (await getChat(http, user.accessToken, chat.id)).messages.length;

      // Each of them needs Redis: a stream buffer, an LLM call counter, or the KV itself.
      const kvRoutes: [string, () => Promise<Response>][] = [
        ['send (SSE)', () => post(`/api/v1/chats/${chat.id}/messages`, { content: 'during the cut' })],
        ['send (stream:false)', () => post(`/api/v1/chats/${chat.id}/messages`, { content: 'during the cut', stream: false })],
        ['regenerate', () => post(`/api/v1/chats/${chat.id}/messages/${reply}/regenerate`, {})],
        [
          'edit',
          () => http(`/api/v1/chats/${chat.id}/messages/${question}`, { method: 'PATCH', headers: auth(), json: { content: 'edited' } }),
        ],
        ['POST /chat', () => post('/api/v1/chat', { message: 'hi', provider: 'echo' })],
        ['POST /chat/stream', () => post('/api/v1/chat/stream', { message: 'hi', provider: 'echo' })],
        [
          'POST /v1/chat/completions',
          () => post('/v1/chat/completions', { model: 'echo/echo', messages: [{ role: 'user', content: 'hi' }] }, bearer(apiKey)),
        ],
        ['GET /rate-limit', () => http('/api/v1/rate-limit', { headers: auth() })],
        ['POST /streams', () => post('/api/v1/streams', {})],
        ['POST /streams/:id/append', () => post(`/api/v1/streams/${stream.id}/append`, { event: 'note', data: 2 })],
        ['GET /streams/:id (SSE)', () => http(`/api/v1/streams/${stream.id}`, { headers: auth() })],
        ['GET /streams/:id (JSON)', () => http(`/api/v1/streams/${stream.id}`, { headers: { ...auth(), accept: 'application/json' } })],
        ['POST /streams/:id/close', () => post(`/api/v1/streams/${stream.id}/close`, {})],
        ['GET /admin/cache/stats', () => http('/api/v1/admin/cache/stats', { headers: asAdmin })],
        ['POST /admin/cache/clear', () => post('/api/v1/admin/cache/clear', {}, asAdmin)],
      ];

      await withRedisCut(async () => {
        for (const [what, call] of kvRoutes) await expectUnavailable(t, await call(), what);

        // Refused sends stored nothing: no question without its reply, no reply left `streaming`.
        const during = await getChat(http, user.accessToken, chat.id);
        expect(during.messages.length).toBe(before);
        expect(during.messages.filter((m: Json) => m.status === 'streaming')).toEqual([]);

        // What needs only the database keeps working (the rate limits let requests through).
        await expectStatus(await http('/api/v1/chats', { headers: auth() }), 200);
        await expectStatus(await http('/api/v1/auth/me', { headers: auth() }), 200);
        const session = await expectStatus(await post('/api/v1/auth/login', { email: user.email, password: user.password }, {}), 200);
        await expectStatus(await post('/api/v1/auth/refresh', { refreshToken: session.refreshToken }, {}), 200);

        // Health tells the outage apart from a dead process: degraded, not down.
        const health = await expectStatus(await http('/api/v1/health/detailed'), 200);
        expect(health).toMatchObject({ status: 'degraded', database: { status: 'ok' }, kv: { kind: 'redis', status: 'degraded' } });
      });

      // Back: every one of them works again, in the same process.
      const sent = await sendMessage(http, user.accessToken, chat.id, { content: 'after the cut', stream: false });
      expect((await expectStatus(sent, 200)).assistantMessage.status).toBe('complete');
      const again = await streamMessage(http, user.accessToken, chat.id, { content: 'streamed after the cut' });
      expect(again.done).toBeDefined();
      await expectStatus(await post('/api/v1/chat', { message: 'hi', provider: 'echo' }), 200);
      await expectStatus(await http('/api/v1/rate-limit', { headers: auth() }), 200);
      await expectStatus(await post(`/api/v1/streams/${stream.id}/append`, { event: 'note', data: 3 }), 202);
      const dump = await expectStatus(
        await http(`/api/v1/streams/${stream.id}`, { headers: { ...auth(), accept: 'application/json' } }),
        200,
      );
      expect(dump.events.map((e: Json) => e.data)).toEqual([1, 3]);
      await expectStatus(await http('/api/v1/admin/cache/stats', { headers: asAdmin }), 200);
      expect((await expectStatus(await http('/api/v1/health/detailed'), 200)).status).toBe('ok');
      expectNoUnhandled(t);
    }, 30_000);

    test('happy: a reply streaming when Redis is cut rides the outage out: it ends with done, and the stored text is the streamed text', async () => {
      const chat = await createChat(http, user.accessToken, { provider: 'echo', model: 'echo' });
      // Shorter than the cut: only a reply held up by the outage can still be running when it ends.
      const words = uniqueWords(30);
      const response = await sendMessage(http, user.accessToken, chat.id, { content: words });
      expect(response.status).toBe(200);
      const reader = new SseReader(response);
      // Another reader of the same reply, as a resume from another tab would be.
      const start = await reader.next();
      expect(start?.event).toBe('start');
      const follower = new SseReader(await http(`/api/v1/streams/${start!.data.streamId}`, { headers: auth() }));
      // And one that waits for the whole reply (stream:false) while Redis goes away.
      const whole = sendMessage(http, user.accessToken, chat.id, { content: uniqueWords(40), stream: false });
      await reader.untilDeltas(5);
      // Both replies running before Redis goes: one admitted during the cut would rightly be a 503.
      await waitUntil(() => t.services.replies.activeCount() >= 2, 'both replies to be running');

      await withRedisCut(async () => {
        await Bun.sleep(cutMs);
        expect(t.services.replies.activeCount()).toBeGreaterThan(0);
      });
      expect(t.logs.some((line) => line.msg === 'kv connection error')).toBe(true);

      const events = await reader.rest(20_000);
      const last = events.at(-1)!;
      expect(last.event).toBe('done');
      expect(reader.text).toBe(words);
      const stored = (await getChat(http, user.accessToken, chat.id)).messages.find((m: Json) => m.id === start!.data.messageId)!;
      expect({ status: stored.status, content: stored.content }).toEqual({ status: 'complete', content: reader.text });
      // The other reader saw exactly the same events.
      await follower.rest(20_000);
      expect(follower.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
      expect(follower.text).toBe(reader.text);
      const answered = await expectStatus(await whole, 200);
      expect(answered.assistantMessage.status).toBe('complete');
      expect(answered.assistantMessage.content.length).toBeGreaterThan(0);
      // Each event once: an append retried after a lost answer is not written twice.
      const ids = events.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expectNoUnhandled(t);
    }, 30_000);

    test('error: a websocket opened while Redis is cut gets an unavailable error frame and is closed; one opened after works', async () => {
      const closed = await withRedisCut(async () => {
        const socket = new WsClient(new WebSocket(`${wsUrl}?token=${encodeURIComponent(user.accessToken)}`));
        const close = await Promise.race([socket.closed, Bun.sleep(5000).then(() => undefined)]);
        return { socket, close };
      });
      expect(closed.close?.code).toBe(1013);
      expect(closed.socket.frames).toEqual([{ type: 'error', code: 'unavailable', message: expect.any(String) }]);

      const socket = await WsClient.ready(wsUrl, user.accessToken);
      try {
        expect(socket.frames[0]).toEqual({ type: 'ready', userId: user.userId });
      } finally {
        await socket.close();
      }
      expectNoUnhandled(t);
    }, 30_000);

    test('error: a chat.send frame while Redis is cut gets an unavailable error frame, stores nothing, and the socket stays usable', async () => {
      const chat = await createChat(http, user.accessToken, { provider: 'echo', model: 'echo' });
      const socket = await WsClient.ready(wsUrl, user.accessToken);
      try {
        await withRedisCut(async () => {
          socket.send({ type: 'chat.send', chatId: chat.id, content: 'during the cut', requestId: 'r1' });
          const error = await socket.waitFor((f) => f.type === 'error' && f.requestId === 'r1', 'error frame');
          expect(error.code).toBe('unavailable');
        });
        expect((await getChat(http, user.accessToken, chat.id)).messages).toEqual([]);
        await waitUntil(() => socket.isOpen, 'socket open');
        socket.send({ type: 'ping' });
        await socket.waitFor((f) => f.type === 'pong', 'pong');
      } finally {
        await socket.close();
      }
      expectNoUnhandled(t);
    }, 30_000);
  });
}
