// A live connection loses its rights with its credentials (F1 of ../shared/cases/2026-11-30-break-it.md):
// within 1 s of logout, logout-all, DELETE /auth/sessions/:id, the user being disabled, the API key
// being revoked, and at token or key expiry, a websocket gets `error {code: "unauthorized"}` and is
// closed with 4401, and an SSE reader (GET /streams/:id, a streamed reply) gets an `error` event and
// ends. A frame sent after that stores nothing and calls no model. On every storage kind, and across
// two instances sharing one Postgres and Redis (socket on A, revocation on B).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import type { Caller } from '../../src/http/auth.ts';
import { createMemoryStore } from '../../src/infra/kv/memory.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { createRevocations } from '../../src/modules/auth/revocations.ts';
import { createLiveConnections, type EndReason } from '../../src/modules/realtime/connections.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type StorageKind, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  asAdmin,
  bearer,
  copy,
  createApiKey,
  createChat,
  expectStatus,
  type Http,
  httpOf,
  type Json,
  login,
  register,
  sendMessage,
  uniqueText,
  waitUntil,
} from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';

// What the contract allows between the revocation and the close.
const withinMs = 1000;
// How long a test waits to see that something does NOT happen (a stored message, an upstream call):
// a frame the server wrongly acted on is stored and sent upstream within a few ms.
const quietMs = 100;

let fake: FakeUpstream;
beforeAll(async () => {
  // fake-slow: about 55 words, 15 ms apart (about 0.8 s); a revocation lands mid-reply.
  fake = await startFakeUpstream({ slowChunkMs: 15 });
});
afterAll(() => fake.stop());

type Instance = { t: TestApp; http: Http; wsUrl: string; sockets: WsClient[] };

async function startInstance(kind: StorageKind | undefined, env: Record<string, string | undefined> = {}): Promise<Instance> {
  const t = await createTestApp(kind, llmEnv(fake, env));
  t.app.listen({ port: 0, hostname: '127.0.0.1' });
  await t.services.live.ready();
  return { t, http: httpOf(t), wsUrl: `ws://127.0.0.1:${t.app.server!.port}/api/v1/ws`, sockets: [] };
}

async function stopInstance(instance: Instance | undefined) {
  if (!instance) return;
  await Promise.all(instance.sockets.map((socket) => socket.close()));
  await instance.t.app.stop(true);
  await instance.t.close();
}

async function openSocket(instance: Instance, credential: string): Promise<WsClient> {
  const socket = await WsClient.ready(instance.wsUrl, credential);
  instance.sockets.push(socket);
  return socket;
}

/** A chat on the fake upstream's OpenAI side, so its model calls can be counted. */
const fakeChat = (http: Http, token: string, model = 'gpt-4o-mini') => createChat(http, token, { provider: 'openai', model });

/** Sends a chat.send if the client still can (its side may already be closed). */
function trySend(socket: WsClient, frame: Record<string, unknown>) {
  try {
    if (socket.ws.readyState === WebSocket.OPEN) socket.send(frame);
  } catch {
    // closed meanwhile: nothing was sent
  }
}

/**
 * The socket is closed with 4401 within `withinMs` of `since`, and the frame just before the
 * close is `error {code: "unauthorized"}` (with `message` when given). Returns when it closed.
 */
async function expectEnded(socket: WsClient, since: number, message?: string): Promise<number> {
  const closed = await Promise.race([socket.closed, Bun.sleep(withinMs + 1000).then(() => undefined)]);
  const at = Date.now();
  expect(closed?.code).toBe(4401);
  expect(at - since).toBeLessThan(withinMs);
  expect(copy(socket.frames.at(-1))).toMatchObject({ type: 'error', code: 'unauthorized', ...(message ? { message } : {}) });
  return at;
}

/** Nothing was stored in the chat (read with a credential that still works) and no model was called for `text`. */
async function expectNothingDone(http: Http, token: string, chatId: string, text: string) {
  await Bun.sleep(quietMs);
  const chat = await expectStatus(await http(`/api/v1/chats/${chatId}`, { headers: bearer(token) }), 200);
  expect(chat.messages).toEqual([]);
  expect(upstreamCalls(fake, text)).toHaveLength(0);
}

/** When an access token expires (its `exp`), in ms. */
const expiryOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;

/**
 * Signs in again until the access token has at least `minMs` to live. exp is in whole seconds:
 * with ACCESS_TOKEN_TTL=1s it is the next whole second, anywhere from 0 to 1000 ms away. A token
 * signed just after that second has about 1 s.
 */
async function freshTokens(http: Http, account: { email: string; password: string; accessToken: string }, minMs: number) {
  let tokens: { accessToken: string } = account;
  while (expiryOf(tokens.accessToken) - Date.now() < minMs) {
    await Bun.sleep(Math.max(expiryOf(tokens.accessToken) - Date.now(), 0) + 5);
    tokens = await login(http, account.email, account.password);
  }
  return tokens.accessToken;
}

const currentSessionId = async (http: Http, token: string): Promise<string> => {
  const page = await expectStatus(await http('/api/v1/auth/sessions', { headers: bearer(token) }), 200);
  return page.data.find((session: Json) => session.current).id;
};

const post = (http: Http, path: string, token: string, json?: unknown) =>
  http(path, { method: 'POST', headers: bearer(token), ...(json !== undefined ? { json } : {}) });

/** A generic stream with one event, and an SSE reader of it (as `credential`) that has read that event. */
async function streamReader(http: Http, owner: string, credential: string = owner) {
  const { id } = await expectStatus(await post(http, '/api/v1/streams', owner, {}), 201);
  await expectStatus(await post(http, `/api/v1/streams/${id}/append`, owner, { event: 'note', data: { n: 1 } }), 202);
  const reader = new SseReader(await http(`/api/v1/streams/${id}`, { headers: bearer(credential) }));
  const first = await reader.next();
  expect(first?.event).toBe('note');
  return { id, reader, firstId: first!.id };
}

/** The reader's next event is `error {code: "unauthorized"}` (within `withinMs` of `since`), carrying the last event's id, and then the stream ends. */
async function expectSseEnded(reader: SseReader, since: number, lastId: string, message?: string) {
  const event = await reader.next(withinMs + 1000);
  expect(Date.now() - since).toBeLessThan(withinMs);
  expect(copy(event)).toMatchObject({ event: 'error', id: lastId, data: { code: 'unauthorized', ...(message ? { message } : {}) } });
  expect(await reader.next(withinMs)).toBeUndefined();
  expect(reader.ended).toBe(true);
}

for (const [name, kind] of kinds) {
  describe(`live connections lose their rights on ${name}`, () => {
    let one: Instance;
    let http: Http;
    beforeAll(async () => {
      one = await startInstance(kind);
      http = one.http;
    });
    afterAll(() => stopInstance(one));

    describe('websockets', () => {
      test('security: logout: error unauthorized, then 4401 within 1 s; a chat.send sent right after stores nothing and calls no model', async () => {
        const user = await register(http);
        const other = await login(http, user.email, user.password);
        const chat = await fakeChat(http, user.accessToken);
        const socket = await openSocket(one, user.accessToken);
        const text = uniqueText('after logout');
        expect((await post(http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);
        const since = Date.now();
        trySend(socket, { type: 'chat.send', chatId: chat.id, content: text });
        await expectEnded(socket, since, 'Session has ended');
        expect(socket.frames.filter((f) => f.type === 'start' || f.type === 'message.created')).toEqual([]);
        await expectNothingDone(http, other.accessToken, chat.id, text);
      });

      test('security: logout-all ends the sockets of every session; the API-key socket and another user’s socket stay open and keep working', async () => {
        const user = await register(http);
        const second = await login(http, user.email, user.password);
        const stranger = await register(http);
        const { key } = await createApiKey(http, user.accessToken);
        const chat = await fakeChat(http, user.accessToken);
        const [first, again, viaKey, theirs] = await Promise.all([
          openSocket(one, user.accessToken),
          openSocket(one, second.accessToken),
          openSocket(one, key),
          openSocket(one, stranger.accessToken),
        ]);
        expect((await post(http, '/api/v1/auth/logout-all', user.accessToken)).status).toBe(204);
        const since = Date.now();
        await Promise.all([expectEnded(first, since, 'Session has ended'), expectEnded(again, since, 'Session has ended')]);
        // logout-all ends sessions; an API key is revoked on its own.
        const content = uniqueText('key still works');
        viaKey.send({ type: 'chat.send', chatId: chat.id, content, requestId: 'k' });
        expect((await viaKey.reply('k')).end.type).toBe('done');
        theirs.send({ type: 'ping' });
        await theirs.waitFor((f) => f.type === 'pong', 'pong');
        expect(viaKey.isOpen && theirs.isOpen).toBe(true);
      });

      test('security: DELETE /auth/sessions/:id ends that session’s socket only; the socket of the session that asked still works', async () => {
        const user = await register(http);
        const victim = await login(http, user.email, user.password);
        const chat = await fakeChat(http, user.accessToken);
        const [mine, ended] = await Promise.all([openSocket(one, user.accessToken), openSocket(one, victim.accessToken)]);
        const sessionId = await currentSessionId(http, victim.accessToken);
        expect((await http(`/api/v1/auth/sessions/${sessionId}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(
          204,
        );
        const since = Date.now();
        const text = uniqueText('after session deleted');
        trySend(ended, { type: 'chat.send', chatId: chat.id, content: text });
        await expectEnded(ended, since, 'Session has ended');
        await expectNothingDone(http, user.accessToken, chat.id, text);
        mine.send({ type: 'chat.send', chatId: chat.id, content: uniqueText('still mine'), requestId: 'm' });
        expect((await mine.reply('m')).end.type).toBe('done');
      });

      test('security: disabling the user ends their token and API-key sockets ("This account is disabled"); a chat.send right after stores nothing', async () => {
        const user = await register(http);
        const { key } = await createApiKey(http, user.accessToken);
        const chat = await fakeChat(http, user.accessToken);
        const [viaToken, viaKey] = await Promise.all([openSocket(one, user.accessToken), openSocket(one, key)]);
        const text = uniqueText('after disable');
        await expectStatus(
          await http(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } }),
          200,
        );
        const since = Date.now();
        trySend(viaToken, { type: 'chat.send', chatId: chat.id, content: text });
        trySend(viaKey, { type: 'chat.send', chatId: chat.id, content: text });
        await Promise.all([
          expectEnded(viaToken, since, 'This account is disabled'),
          expectEnded(viaKey, since, 'This account is disabled'),
        ]);
        await expectStatus(
          await http(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: false } }),
          200,
        );
        const back = await login(http, user.email, user.password);
        await expectNothingDone(http, back.accessToken, chat.id, text);
      });

      test('happy: a user re-enabled after being disabled opens a socket that works (the remembered revocation ends only older connections)', async () => {
        const user = await register(http);
        const chat = await fakeChat(http, user.accessToken);
        await expectStatus(
          await http(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } }),
          200,
        );
        await expectStatus(
          await http(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: false } }),
          200,
        );
        const socket = await openSocket(one, user.accessToken);
        socket.send({ type: 'chat.send', chatId: chat.id, content: uniqueText('welcome back'), requestId: 'w' });
        expect((await socket.reply('w')).end.type).toBe('done');
        expect(socket.isOpen).toBe(true);
      });

      test('security: revoking an API key ends the sockets opened with it ("API key has been revoked"); the owner’s token socket stays open', async () => {
        const user = await register(http);
        const created = await createApiKey(http, user.accessToken);
        const chat = await fakeChat(http, user.accessToken);
        const [viaKey, viaToken] = await Promise.all([openSocket(one, created.key), openSocket(one, user.accessToken)]);
        const text = uniqueText('after key revoked');
        expect((await http(`/api/v1/auth/api-keys/${created.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(
          204,
        );
        const since = Date.now();
        trySend(viaKey, { type: 'chat.send', chatId: chat.id, content: text });
        await expectEnded(viaKey, since, 'API key has been revoked');
        await expectNothingDone(http, user.accessToken, chat.id, text);
        viaToken.send({ type: 'ping' });
        await viaToken.waitFor((f) => f.type === 'pong', 'pong');
      });

      test('security: a revocation whose notice never came (the session ended in the database only): the next chat.send is refused, the socket closes 4401, nothing is stored, no model is called', async () => {
        const user = await register(http);
        const other = await login(http, user.email, user.password);
        const chat = await fakeChat(http, user.accessToken);
        const socket = await openSocket(one, user.accessToken);
        const sessionId = await currentSessionId(http, user.accessToken);
        const { sessions } = one.t.infra.db.tables;
        await one.t.infra.db.run((q) => q.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.id, sessionId)));
        const text = uniqueText('unnoticed revocation');
        const since = Date.now();
        socket.send({ type: 'chat.send', chatId: chat.id, content: text, requestId: 'x' });
        await expectEnded(socket, since, 'Session has ended');
        await expectNothingDone(http, other.accessToken, chat.id, text);
      });

      test('security: a chat.cancel from a socket whose session ended (notice or not) cancels nothing: the reply runs on', async () => {
        const user = await register(http);
        const other = await login(http, user.email, user.password);
        const chat = await fakeChat(http, other.accessToken, 'fake-slow');
        const socket = await openSocket(one, user.accessToken);
        const text = uniqueText('keep going');
        const reader = new SseReader(await sendMessage(http, other.accessToken, chat.id, { content: text }));
        const start = await reader.next();
        const sessionId = await currentSessionId(http, user.accessToken);
        const { sessions } = one.t.infra.db.tables;
        await one.t.infra.db.run((q) => q.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.id, sessionId)));
        socket.send({ type: 'chat.cancel', messageId: start!.data.messageId });
        await expectEnded(socket, Date.now(), 'Session has ended');
        expect(socket.frames.filter((f) => f.type === 'chat.cancelling')).toEqual([]);
        await reader.untilDeltas(3);
        const [call] = upstreamCalls(fake, text);
        expect(call?.aborted).toBeFalsy();
        await expectStatus(await post(http, `/api/v1/chats/${chat.id}/messages/${start!.data.messageId}/cancel`, other.accessToken), 202);
        await reader.rest();
      });
    });

    describe('SSE readers', () => {
      const revocations: [string, (http: Http, user: Account, credential: string) => Promise<void>, string][] = [
        [
          'logout',
          async (h, user) => void expect((await post(h, '/api/v1/auth/logout', user.accessToken)).status).toBe(204),
          'Session has ended',
        ],
        [
          'logout-all',
          async (h, user) => void expect((await post(h, '/api/v1/auth/logout-all', user.accessToken)).status).toBe(204),
          'Session has ended',
        ],
        [
          'DELETE /auth/sessions/:id',
          async (h, user) => {
            const other = await login(h, user.email, user.password);
            const sessionId = await currentSessionId(h, user.accessToken);
            expect((await h(`/api/v1/auth/sessions/${sessionId}`, { method: 'DELETE', headers: bearer(other.accessToken) })).status).toBe(
              204,
            );
          },
          'Session has ended',
        ],
        [
          'admin disable',
          async (h, user) => {
            await expectStatus(
              await h(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } }),
              200,
            );
          },
          'This account is disabled',
        ],
      ];
      for (const [what, revoke, message] of revocations) {
        test(`security: ${what}: a reader of GET /streams/:id gets error {code: unauthorized} (with the last event’s id), then the stream ends; later appends are not delivered`, async () => {
          const user = await register(http);
          const { id, reader, firstId } = await streamReader(http, user.accessToken);
          await revoke(http, user, user.accessToken);
          await expectSseEnded(reader, Date.now(), firstId, message);
          expect(reader.events.map((e) => e.event)).toEqual(['note', 'error']);
          if (what !== 'admin disable') {
            const again = await login(http, user.email, user.password);
            await expectStatus(await post(http, `/api/v1/streams/${id}/append`, again.accessToken, { event: 'later', data: 2 }), 202);
          }
        });
      }

      test('security: revoking an API key ends the readers that use it, not the owner’s token reader', async () => {
        const user = await register(http);
        const created = await createApiKey(http, user.accessToken);
        const byKey = await streamReader(http, user.accessToken, created.key);
        const byToken = new SseReader(await http(`/api/v1/streams/${byKey.id}`, { headers: bearer(user.accessToken) }));
        expect((await byToken.next())?.event).toBe('note');
        expect((await http(`/api/v1/auth/api-keys/${created.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(
          204,
        );
        await expectSseEnded(byKey.reader, Date.now(), byKey.firstId, 'API key has been revoked');
        await expectStatus(await post(http, `/api/v1/streams/${byKey.id}/append`, user.accessToken, { event: 'later', data: 2 }), 202);
        expect(copy(await byToken.next())).toMatchObject({ event: 'later', data: 2 });
        await byToken.cancel();
      });

      test('happy: a reply streamed by POST /chats/:id/messages ends with error unauthorized at logout; the reply runs to its end, is stored, and resumes from that id once signed in again', async () => {
        const user = await register(http);
        const chat = await fakeChat(http, user.accessToken, 'fake-slow');
        const text = uniqueText('finish anyway');
        const reader = new SseReader(await sendMessage(http, user.accessToken, chat.id, { content: text }));
        const start = (await reader.next())!;
        await reader.untilDeltas(2);
        expect((await post(http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);
        const loggedOutAt = Date.now();
        // Deltas already on their way when the session ended may come first (one every 15 ms);
        // then the error, within 1 s, carrying the id of the last event delivered.
        let ended = await reader.next(withinMs + 1000);
        while (ended?.event === 'delta') ended = await reader.next(withinMs + 1000);
        expect(Date.now() - loggedOutAt).toBeLessThan(withinMs);
        const lastId = reader.events.at(-2)!.id;
        expect(copy(ended)).toMatchObject({ event: 'error', id: lastId, data: { code: 'unauthorized', message: 'Session has ended' } });
        expect(await reader.next(withinMs)).toBeUndefined();
        expect(reader.ended).toBe(true);
        const [call] = upstreamCalls(fake, text);
        expect(call?.aborted).toBeFalsy();
        const again = await login(http, user.email, user.password);
        const resumed = new SseReader(
          await http(`/api/v1/streams/${start.data.streamId}`, { headers: { ...bearer(again.accessToken), 'last-event-id': lastId } }),
        );
        await resumed.rest(20_000);
        expect(resumed.events.at(-1)?.event).toBe('done');
        const before = reader.events.filter((e) => e.event === 'delta');
        const stored = (
          await expectStatus(await http(`/api/v1/chats/${chat.id}`, { headers: bearer(again.accessToken) }), 200)
        ).messages.find((m: Json) => m.id === start.data.messageId);
        expect(stored).toMatchObject({ status: 'complete', content: before.map((e) => e.data.text).join('') + resumed.text });
      });
    });

    test('happy: nothing is left behind: every watched socket and reader is released when it ends, revoked or not', async () => {
      const base = one.t.services.live.size();
      const user = await register(http);
      const sockets = await Promise.all([openSocket(one, user.accessToken), openSocket(one, user.accessToken)]);
      const { reader } = await streamReader(http, user.accessToken);
      const other = await streamReader(http, user.accessToken);
      expect(one.t.services.live.size()).toBe(base + 4);
      await sockets[0]!.close();
      await other.reader.cancel();
      await waitUntil(() => one.t.services.live.size() === base + 2, 'a closed socket and a cancelled reader to be released', 2000);
      expect((await post(http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);
      await sockets[1]!.closed;
      await reader.rest();
      await waitUntil(() => one.t.services.live.size() === base, 'every watch to be released', 2000);
    });
  });

  describe(`expiry on ${name}`, () => {
    let one: Instance;
    beforeAll(async () => {
      // The shortest lifetime the config allows: a token's exp is at most a second away.
      one = await startInstance(kind, { ACCESS_TOKEN_TTL: '1s' });
    });
    afterAll(() => stopInstance(one));

    test('security: at the access token’s exp its socket gets error "Token has expired" and 4401, and its SSE reader an error event: not before, within 1 s after', async () => {
      const user = await register(one.http);
      // Time enough to open the socket and the reader before it expires.
      const token = await freshTokens(one.http, user, 300);
      const exp = expiryOf(token);
      const socket = await openSocket(one, token);
      const { reader, firstId } = await streamReader(one.http, token);
      const [closedAt] = await Promise.all([
        expectEnded(socket, exp, 'Token has expired'),
        (async () => {
          const event = await reader.next(4000);
          expect(Date.now()).toBeGreaterThanOrEqual(exp - 5);
          expect(copy(event)).toMatchObject({ event: 'error', id: firstId, data: { code: 'unauthorized', message: 'Token has expired' } });
          expect(await reader.next()).toBeUndefined();
        })(),
      ]);
      expect(closedAt).toBeGreaterThanOrEqual(exp - 5);
    });

    test('security: at an API key’s expiresAt its socket gets error "API key has expired" and 4401; a chat.send sent at that moment stores nothing', async () => {
      const user = await register(one.http);
      const token = await freshTokens(one.http, user, 300);
      const chat = await fakeChat(one.http, token);
      // Time enough to open a socket with it.
      const expiresAt = Date.now() + 500;
      const { key } = await createApiKey(one.http, token, { name: 'short', expiresAt: new Date(expiresAt).toISOString() });
      const socket = await openSocket(one, key);
      const text = uniqueText('key expired');
      await Bun.sleep(Math.max(expiresAt - Date.now(), 0));
      trySend(socket, { type: 'chat.send', chatId: chat.id, content: text });
      const closedAt = await expectEnded(socket, expiresAt, 'API key has expired');
      expect(closedAt).toBeGreaterThanOrEqual(expiresAt - 5);
      // A token that outlives the quiet wait and the read.
      await expectNothingDone(one.http, await freshTokens(one.http, user, quietMs + 300), chat.id, text);
    });
  });
}

describe.if(hasPostgres && hasRedis)('live connections across two instances on one Postgres and Redis', () => {
  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    a = await startInstance({ database: 'postgres', kv: 'redis' });
    // B shares A's database, key prefix and secret: the same service behind a load balancer.
    b = await startInstance(undefined, {
      DATABASE_URL: a.t.infra.config.databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: a.t.infra.config.redisKeyPrefix,
      JWT_SECRET: a.t.infra.config.jwtSecret,
    });
  });
  afterAll(async () => {
    await stopInstance(b);
    await stopInstance(a);
  });

  test('security: a socket on A, logout on B: A closes it 4401 within 1 s; a chat.send sent right after stores nothing and calls no model', async () => {
    const user = await register(a.http);
    const other = await login(b.http, user.email, user.password);
    const chat = await fakeChat(a.http, user.accessToken);
    const socket = await openSocket(a, user.accessToken);
    const text = uniqueText('logout elsewhere');
    expect((await post(b.http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);
    const since = Date.now();
    trySend(socket, { type: 'chat.send', chatId: chat.id, content: text });
    await expectEnded(socket, since, 'Session has ended');
    await expectNothingDone(b.http, other.accessToken, chat.id, text);
  });

  const elsewhere: [string, (user: Account, key: { id: string; key: string }) => Promise<void>, 'token' | 'key', string][] = [
    [
      'logout-all on B',
      async (user) => void expect((await post(b.http, '/api/v1/auth/logout-all', user.accessToken)).status).toBe(204),
      'token',
      'Session has ended',
    ],
    [
      'DELETE /auth/sessions/:id on B',
      async (user) => {
        const other = await login(b.http, user.email, user.password);
        const sessionId = await currentSessionId(b.http, user.accessToken);
        expect((await b.http(`/api/v1/auth/sessions/${sessionId}`, { method: 'DELETE', headers: bearer(other.accessToken) })).status).toBe(
          204,
        );
      },
      'token',
      'Session has ended',
    ],
    [
      'admin disable on B',
      async (user) => {
        await expectStatus(
          await b.http(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } }),
          200,
        );
      },
      'key',
      'This account is disabled',
    ],
    [
      'API key revoked on B',
      async (user, key) =>
        void expect((await b.http(`/api/v1/auth/api-keys/${key.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(
          204,
        ),
      'key',
      'API key has been revoked',
    ],
  ];
  for (const [what, revoke, via, message] of elsewhere) {
    test(`security: ${what}: A’s socket (opened with the ${via}) closes 4401 within 1 s, and A’s SSE reader of GET /streams/:id gets an error event, then ends`, async () => {
      const user = await register(a.http);
      const key = await createApiKey(a.http, user.accessToken);
      const credential = via === 'token' ? user.accessToken : key.key;
      const socket = await openSocket(a, credential);
      const { reader, firstId } = await streamReader(a.http, user.accessToken, credential);
      await revoke(user, key);
      const since = Date.now();
      await Promise.all([expectEnded(socket, since, message), expectSseEnded(reader, since, firstId, message)]);
    });
  }
});

describe('live connections (the registry, on memory KV)', () => {
  const setup = () => {
    const kv = createMemoryStore();
    const log = createLogger('silent');
    const revocations = createRevocations({ kv, log });
    return { revocations, live: createLiveConnections({ log }, revocations) };
  };
  const callerOf = (over: Partial<Caller> = {}) =>
    ({
      user: { id: 'u1' },
      isAdmin: false,
      via: 'token',
      sessionId: 's1',
      tokenId: 't1',
      tokenExpiresAt: null,
      apiKeyId: null,
      apiKeyExpiresAtMs: null,
      ...over,
    }) as Caller & { user: { id: string } };

  test('security: a revocation heard after the credentials were checked, but before the connection registered, ends it at once', async () => {
    const { revocations, live } = setup();
    await live.ready();
    const checkedAt = performance.now();
    await revocations.publish({ kind: 'sessions', sessionIds: ['s1'] });
    const ended: EndReason[] = [];
    const watch = live.watch(callerOf(), checkedAt, (reason) => ended.push(reason));
    expect(ended).toEqual([{ code: 'unauthorized', message: 'Session has ended' }]);
    expect(watch.ended).toBe(true);
    expect(live.size()).toBe(0);
    await live.close();
  });

  test('happy: a revocation heard before the credentials were checked leaves the connection alone (a re-enabled user, another session)', async () => {
    const { revocations, live } = setup();
    await live.ready();
    await revocations.publish({ kind: 'user', userId: 'u1', reason: 'disabled' });
    await revocations.publish({ kind: 'sessions', sessionIds: ['s0'] });
    await Bun.sleep(1);
    const ended: EndReason[] = [];
    const watch = live.watch(callerOf(), performance.now(), (reason) => ended.push(reason));
    expect(watch.ended).toBe(false);
    await revocations.publish({ kind: 'apiKeys', apiKeyIds: ['k1'] });
    await Bun.sleep(5);
    expect(ended).toEqual([]);
    await revocations.publish({ kind: 'user', userId: 'u1', reason: 'disabled' });
    expect(ended).toEqual([{ code: 'unauthorized', message: 'This account is disabled' }]);
    // Heard locally and again through KV: it ends once.
    await Bun.sleep(5);
    expect(ended).toHaveLength(1);
    await live.close();
  });

  test('happy: a listener hears each revocation once, though it arrives both locally and through KV', async () => {
    const { revocations } = setup();
    const heard: unknown[] = [];
    const unsubscribe = await revocations.subscribe((revocation) => heard.push(revocation));
    await revocations.publish({ kind: 'sessions', sessionIds: ['s1'] });
    await revocations.publish({ kind: 'sessions', sessionIds: ['s1'] });
    await revocations.publish({ kind: 'sessions', sessionIds: [] });
    await Bun.sleep(5);
    expect(heard).toEqual([
      { kind: 'sessions', sessionIds: ['s1'] },
      { kind: 'sessions', sessionIds: ['s1'] },
    ]);
    await unsubscribe();
  });

  test('happy: a released connection is not ended later, and expired credentials end at once', async () => {
    const { revocations, live } = setup();
    await live.ready();
    const ended: EndReason[] = [];
    live.watch(callerOf(), performance.now(), (reason) => ended.push(reason)).release();
    await revocations.publish({ kind: 'sessions', sessionIds: ['s1'] });
    expect(ended).toEqual([]);
    const expired = live.watch(callerOf({ tokenExpiresAt: Math.floor(Date.now() / 1000) - 1 }), performance.now(), (reason) =>
      ended.push(reason),
    );
    expect(expired.ended).toBe(true);
    expect(ended).toEqual([{ code: 'unauthorized', message: 'Token has expired' }]);
    const far = live.watch(
      callerOf({ via: 'apiKey', sessionId: null, apiKeyId: 'k', apiKeyExpiresAtMs: Date.now() + 40 * 86_400_000 }),
      performance.now(),
      () => ended.push({ code: 'unauthorized', message: 'too early' }),
    );
    await Bun.sleep(5);
    expect(far.ended).toBe(false);
    expect(live.size()).toBe(1);
    await live.close();
    expect(live.size()).toBe(0);
  });
});
