// GET /api/v1/ws on a real listener in process, on every storage kind: authentication (query
// token, auth frame, timeout, bad token), frames (ping, bad frames, chat.send, chat.cancel), the
// owner's events (message.created, chat.updated, chat.deleted) and what a closed socket leaves.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Redis from 'ioredis';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  bearer,
  copy,
  createChat,
  expectStatus,
  type Http,
  httpOf,
  type Json,
  readJson,
  register,
  sendMessage,
  storedMessage,
  uniqueWords,
  waitUntil,
} from '../helpers/client.ts';
import { hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { WsClient } from '../helpers/ws.ts';

const kinds = storageKinds({ postgres: hasPostgres, redis: hasRedis });
// The echo provider's pause between words: long enough that every word is its own delta (an append
// takes well under this), short enough that a reply of n words takes (n - 1) × 40 ms.
const echoDelayMs = 40;
// How long a socket opened without a token may wait for its auth frame.
const authTimeoutMs = 400;
// How long a test waits to see that something does NOT arrive (events are relayed in a few ms).
const quietMs = 100;

for (const [name, kind] of kinds) {
  describe(`websocket on ${name}`, () => {
    let t: TestApp;
    let http: Http;
    let wsUrl: string;
    let alice: Account;
    let bob: Account;
    const sockets: WsClient[] = [];
    const connect = async (url: string) => {
      const client = await WsClient.connect(url);
      sockets.push(client);
      return client;
    };
    const ready = async (user: Account) => {
      const client = await WsClient.ready(wsUrl, user.accessToken);
      sockets.push(client);
      return client;
    };

    beforeAll(async () => {
      t = await createTestApp(kind, {
        RATE_LIMIT_ENABLED: 'false',
        ECHO_DELAY_MS: String(echoDelayMs),
        WS_AUTH_TIMEOUT_MS: String(authTimeoutMs),
      });
      t.app.listen({ port: 0, hostname: '127.0.0.1' });
      wsUrl = `ws://127.0.0.1:${t.app.server!.port}/api/v1/ws`;
      http = httpOf(t);
      [alice, bob] = await Promise.all([register(http), register(http)]);
    });
    afterAll(async () => {
      await Promise.all(sockets.map((socket) => socket.close()));
      await t?.app.stop(true);
      await t?.close();
    });

    describe('authentication', () => {
      test('happy: ?token= authenticates at once: the first frame is ready with the user id', async () => {
        const socket = await ready(alice);
        expect(socket.frames[0]).toEqual({ type: 'ready', userId: alice.userId });
        socket.send({ type: 'ping' });
        await socket.waitFor((f) => f.type === 'pong', 'pong');
        expect(socket.isOpen).toBe(true);
      });

      test('happy: an auth frame authenticates a socket opened without a token', async () => {
        const socket = await connect(wsUrl);
        // Before auth, anything but auth or ping is refused with an error frame.
        socket.send({ type: 'chat.send', chatId: 'x', content: 'hi' });
        await socket.waitFor((f) => f.type === 'error' && f.code === 'unauthorized', 'unauthorized error');
        expect(socket.isOpen).toBe(true);
        socket.send({ type: 'auth', token: alice.accessToken });
        expect(await socket.waitFor((f) => f.type === 'ready', 'ready')).toEqual({ type: 'ready', userId: alice.userId });
        // A second auth frame is refused, and the socket stays.
        socket.send({ type: 'auth', token: bob.accessToken });
        await socket.waitFor((f) => f.type === 'error' && f.code === 'conflict', 'conflict on second auth');
        socket.send({ type: 'ping' });
        await socket.waitFor((f) => f.type === 'pong', 'pong');
      });

      test(`security: no auth within WS_AUTH_TIMEOUT_MS (${authTimeoutMs} ms here): an error frame, then close code 4401, and the hub lets the socket go`, async () => {
        const base = t.services.realtime.stats().sockets;
        const socket = await connect(wsUrl);
        await waitUntil(() => t.services.realtime.stats().sockets === base + 1, 'the hub to hold the socket', 2000);
        const opened = Date.now();
        const closed = await Promise.race([socket.closed, Bun.sleep(5000).then(() => null)]);
        expect(closed?.code).toBe(4401);
        // Not before the timeout: a socket gets the whole WS_AUTH_TIMEOUT_MS to authenticate.
        expect(Date.now() - opened).toBeGreaterThanOrEqual(authTimeoutMs - 50);
        expect(socket.frames).toEqual([{ type: 'error', code: 'unauthorized', message: expect.stringContaining('No auth frame') }]);
        await waitUntil(() => t.services.realtime.stats().sockets === base, 'the hub to release the socket', 2000);
      }, 15_000);

      test('security: a bad token (query or auth frame) is refused with 4401', async () => {
        const byQuery = await connect(`${wsUrl}?token=not-a-token`);
        expect((await Promise.race([byQuery.closed, Bun.sleep(3000).then(() => null)]))?.code).toBe(4401);
        expect(byQuery.frames.some((f) => f.type === 'ready')).toBe(false);
        expect(byQuery.frames.at(-1)).toMatchObject({ type: 'error', code: 'unauthorized' });

        const byFrame = await connect(wsUrl);
        byFrame.send({ type: 'auth', token: `${alice.accessToken}x` });
        expect((await Promise.race([byFrame.closed, Bun.sleep(3000).then(() => null)]))?.code).toBe(4401);
        expect(byFrame.frames.some((f) => f.type === 'ready')).toBe(false);
        // Refused for its token, not merely closed by the auth timeout.
        expect(byFrame.frames.at(-1)).toMatchObject({ type: 'error', code: 'unauthorized' });
        expect(byFrame.frames.at(-1).message).not.toContain('No auth frame');
      });

      test('happy: a chat.send sent right after connecting (?token=, or behind an auth frame) waits for the credentials, then runs', async () => {
        const chat = await createChat(http, alice.accessToken);
        // Sent the moment the socket opens, before `ready` could have arrived.
        const byQuery = await connect(`${wsUrl}?token=${alice.accessToken}`);
        byQuery.send({ type: 'chat.send', chatId: chat.id, content: 'first words', requestId: 'early-query' });
        const first = await byQuery.reply('early-query');
        expect(first.text).toBe('first words');
        expect(byQuery.frames[0]).toEqual({ type: 'ready', userId: alice.userId });

        const byFrame = await connect(wsUrl);
        byFrame.send({ type: 'auth', token: alice.accessToken });
        byFrame.send({ type: 'chat.send', chatId: chat.id, content: 'second words', requestId: 'early-frame' });
        expect((await byFrame.reply('early-frame')).text).toBe('second words');
        expect(byFrame.frames.some((f) => f.type === 'error')).toBe(false);
      });

      test('security: a chat.send sent behind a bad token stores nothing: the socket is refused (4401) before it runs', async () => {
        const chat = await createChat(http, alice.accessToken);
        const socket = await connect(wsUrl);
        socket.send({ type: 'auth', token: `${alice.accessToken}x` });
        socket.send({ type: 'chat.send', chatId: chat.id, content: 'never stored', requestId: 'bad' });
        expect((await Promise.race([socket.closed, Bun.sleep(3000).then(() => null)]))?.code).toBe(4401);
        expect(socket.frames.some((f) => f.type === 'start')).toBe(false);
        const messages = await readJson(await http(`/api/v1/chats/${chat.id}/messages`, { headers: bearer(alice.accessToken) }));
        expect(messages.data).toEqual([]);
      });

      test('security: a logged-out access token is refused with 4401', async () => {
        const carol = await register(http);
        expect((await http('/api/v1/auth/logout', { method: 'POST', headers: bearer(carol.accessToken) })).status).toBe(204);
        const socket = await connect(`${wsUrl}?token=${carol.accessToken}`);
        expect((await Promise.race([socket.closed, Bun.sleep(3000).then(() => null)]))?.code).toBe(4401);
      });
    });

    describe('frames', () => {
      test('happy: ping → pong', async () => {
        const socket = await ready(alice);
        socket.send({ type: 'ping' });
        socket.send({ type: 'ping' });
        await waitUntil(() => socket.frames.filter((f) => f.type === 'pong').length === 2, 'two pongs');
        expect(socket.frames.filter((f) => f.type === 'pong')).toEqual([{ type: 'pong' }, { type: 'pong' }]);
      });

      test('error: chat.send is held to the HTTP body’s schema: the same limits, field by field, and the same options accepted', async () => {
        const socket = await ready(alice);
        const chat = await createChat(http, alice.accessToken);
        const cases: [Record<string, unknown>, string][] = [
          [{ content: 'x'.repeat(100_001) }, 'frame.content'],
          [{ content: 'x', temperature: 3 }, 'frame.temperature'],
          [{ content: 'x', provider: 'mistral' }, 'frame.provider'],
          [{ content: 'x', surprise: true }, 'frame.surprise'],
          [{ content: 'x', chatId: 'y'.repeat(65) }, 'frame.chatId'],
        ];
        for (const [fields, field] of cases) {
          const requestId = `schema-${field}`;
          const from = socket.frames.length;
          socket.send({ type: 'chat.send', chatId: chat.id, requestId, ...fields });
          const error = await socket.waitFor((f) => f.requestId === requestId, `an answer for ${field}`, 3000, from);
          expect({ type: error.type, code: error.code }).toEqual({ type: 'error', code: 'validation_error' });
          expect(error.details.map((d: { field: string }) => d.field)).toContain(field);
        }
        // What HTTP takes, a frame takes too: temperature and maxTokens are options of chat.send.
        socket.send({ type: 'chat.send', chatId: chat.id, content: 'one two', temperature: 0.5, maxTokens: 50, requestId: 'opts' });
        const done = await socket.waitFor((f) => f.requestId === 'opts' && (f.type === 'done' || f.type === 'error'), 'the reply', 10_000);
        expect(done.type).toBe('done');
      });

      test('error: invalid JSON, non-objects, unknown types and chat.send without content get error frames; the socket stays open', async () => {
        const socket = await ready(alice);
        const chat = await createChat(http, alice.accessToken);
        const bad: [unknown, string][] = [
          ['{not json', 'invalid JSON'],
          ['42', 'a number'],
          ['"text"', 'a string'],
          ['[1,2]', 'an array'],
          ['null', 'null'],
          [{ type: 'no.such.frame', requestId: 'r-unknown' }, 'an unknown type'],
          [{ noType: true }, 'no type'],
          [{ type: 'chat.send', chatId: chat.id, requestId: 'r-nocontent' }, 'chat.send without content'],
          [{ type: 'chat.send', chatId: chat.id, content: '', requestId: 'r-empty' }, 'chat.send with empty content'],
          [{ type: 'chat.send', content: 'no chat id', requestId: 'r-nochat' }, 'chat.send without chatId'],
          [{ type: 'chat.send', chatId: chat.id, content: 'x', provider: 7, requestId: 'r-provider' }, 'a non-string provider'],
          [{ type: 'chat.cancel', requestId: 'r-nomsg' }, 'chat.cancel without messageId'],
        ];
        for (const [frame, what] of bad) {
          const from = socket.frames.length;
          socket.send(frame);
          const error = await socket.waitFor((f) => f.type === 'error', `an error frame for ${what}`, 3000, from);
          expect(typeof error.code).toBe('string');
          expect(['invalid_json', 'validation_error']).toContain(error.code);
          expect(typeof error.message).toBe('string');
          expect(socket.isOpen).toBe(true);
        }
        const byRequest = (id: string) => socket.frames.find((f) => f.type === 'error' && f.requestId === id);
        expect(byRequest('r-unknown')?.code).toBe('validation_error');
        expect(byRequest('r-nocontent')?.code).toBe('validation_error');
        expect(socket.frames.filter((f) => f.type === 'error')).toHaveLength(bad.length);
        // Nothing was sent to the chat.
        const stored = await expectStatus(await http(`/api/v1/chats/${chat.id}`, { headers: bearer(alice.accessToken) }), 200);
        expect(stored.messages).toEqual([]);
        // Still a working socket.
        socket.send({ type: 'ping' });
        await socket.waitFor((f) => f.type === 'pong', 'pong after the bad frames');
        expect(socket.frames.some((f) => f.code === 'internal_error')).toBe(false);
      });

      test('happy: chat.send streams start, deltas and done with the requestId; the deltas equal the stored message', async () => {
        const socket = await ready(alice);
        const chat = await createChat(http, alice.accessToken);
        const content = uniqueWords(8, 'ws');
        socket.send({ type: 'chat.send', chatId: chat.id, content, requestId: 'req-1' });
        const reply = await socket.reply('req-1');
        expect(reply.frames[0]).toEqual({
          type: 'start',
          chatId: chat.id,
          userMessageId: expect.any(String),
          messageId: expect.any(String),
          streamId: expect.any(String),
          provider: 'echo',
          model: 'echo',
          requestId: 'req-1',
        });
        expect(reply.frames.map((f) => f.type)).toEqual(['start', ...Array(8).fill('delta'), 'done']);
        for (const delta of reply.frames.filter((f) => f.type === 'delta'))
          expect(Object.keys(delta).sort()).toEqual(['requestId', 'text', 'type']);
        expect(reply.end).toEqual({
          type: 'done',
          messageId: reply.start.messageId,
          finishReason: 'stop',
          usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
          requestId: 'req-1',
        });
        expect(reply.text).toBe(content);
        expect(copy(await storedMessage(http, alice.accessToken, chat.id, reply.start.messageId))).toMatchObject({
          role: 'assistant',
          status: 'complete',
          content,
        });
        const user = await storedMessage(http, alice.accessToken, chat.id, reply.start.userMessageId);
        expect(user).toMatchObject({ role: 'user', content });
      }, 20_000);

      test('happy: two chat.send on one socket interleave, each frame tagged with its own requestId', async () => {
        const socket = await ready(alice);
        const chat = await createChat(http, alice.accessToken);
        const [first, second] = [uniqueWords(5, 'one'), uniqueWords(6, 'two')];
        socket.send({ type: 'chat.send', chatId: chat.id, content: first, requestId: 'a' });
        socket.send({ type: 'chat.send', chatId: chat.id, content: second, requestId: 'b' });
        const [a, b] = await Promise.all([socket.reply('a'), socket.reply('b')]);
        expect(a.text).toBe(first);
        expect(b.text).toBe(second);
        expect(a.end.type).toBe('done');
        expect(b.end.type).toBe('done');
        expect(a.start.messageId).not.toBe(b.start.messageId);
      }, 20_000);

      test('happy: chat.cancel mid-reply ends it with done finishReason cancelled, and the stored message is cancelled', async () => {
        const socket = await ready(alice);
        const chat = await createChat(http, alice.accessToken);
        // 60 words (2.4 s) if it ran to the end; the cancel ends it after about two.
        const content = uniqueWords(60, 'stop');
        socket.send({ type: 'chat.send', chatId: chat.id, content, requestId: 'c-1' });
        const start = await socket.waitFor((f) => f.requestId === 'c-1' && f.type === 'start', 'start');
        await waitUntil(() => socket.frames.filter((f) => f.requestId === 'c-1' && f.type === 'delta').length >= 2, 'two deltas');
        socket.send({ type: 'chat.cancel', messageId: start.messageId, requestId: 'cancel-1' });
        const reply = await socket.reply('c-1', 5000);
        expect(copy(reply.end)).toMatchObject({ type: 'done', messageId: start.messageId, finishReason: 'cancelled' });
        expect(socket.frames.find((f) => f.requestId === 'cancel-1')).toEqual({
          type: 'chat.cancelling',
          messageId: start.messageId,
          requestId: 'cancel-1',
        });
        expect(reply.text.length).toBeGreaterThan(0);
        expect(reply.text.length).toBeLessThan(content.length);
        expect(content.startsWith(reply.text)).toBe(true);
        const stored = await storedMessage(http, alice.accessToken, chat.id, start.messageId);
        expect(stored).toMatchObject({ status: 'cancelled', finishReason: 'cancelled', content: reply.text });
        // Cancelling again: the reply is no longer running.
        socket.send({ type: 'chat.cancel', messageId: start.messageId, requestId: 'cancel-2' });
        expect((await socket.waitFor((f) => f.requestId === 'cancel-2', 'second cancel answer')).code).toBe('conflict');
      }, 20_000);

      test('security: another user’s chatId in chat.send, or their message in chat.cancel, is an error frame not_found', async () => {
        const socket = await ready(bob);
        const chat = await createChat(http, alice.accessToken);
        socket.send({ type: 'chat.send', chatId: chat.id, content: 'let me in', requestId: 'steal' });
        const error = await socket.waitFor((f) => f.requestId === 'steal', 'answer to chat.send');
        expect(error).toEqual({ type: 'error', code: 'not_found', message: expect.any(String), requestId: 'steal' });
        socket.send({ type: 'chat.send', chatId: Bun.randomUUIDv7(), content: 'nowhere', requestId: 'missing' });
        expect((await socket.waitFor((f) => f.requestId === 'missing', 'answer for a missing chat')).code).toBe('not_found');

        const aliceSocket = await ready(alice);
        const content = uniqueWords(10, 'mine');
        aliceSocket.send({ type: 'chat.send', chatId: chat.id, content, requestId: 'own' });
        const start = await aliceSocket.waitFor((f) => f.requestId === 'own' && f.type === 'start', 'start');
        socket.send({ type: 'chat.cancel', messageId: start.messageId, requestId: 'steal-cancel' });
        expect((await socket.waitFor((f) => f.requestId === 'steal-cancel', 'answer to chat.cancel')).code).toBe('not_found');
        // The refused cancel reached a reply that was still running (10 words last 360 ms).
        expect(aliceSocket.frames.some((f) => f.requestId === 'own' && f.type === 'done')).toBe(false);
        const reply = await aliceSocket.reply('own');
        expect(reply.end.finishReason).toBe('stop');
        expect(reply.text).toBe(content);
        expect(socket.isOpen).toBe(true);
        const stored = await expectStatus(await http(`/api/v1/chats/${chat.id}`, { headers: bearer(alice.accessToken) }), 200);
        expect(stored.messages.map((m: Json) => m.content)).toEqual([content, content]);
      }, 20_000);
    });

    describe('the owner’s events', () => {
      test('happy: message.created reaches every socket of the owner for a message sent over HTTP, and no socket of another user', async () => {
        const [first, second, other] = await Promise.all([ready(alice), ready(alice), ready(bob)]);
        const chat = await createChat(http, alice.accessToken);
        const content = uniqueWords(3, 'http');
        const sent = await expectStatus(await sendMessage(http, alice.accessToken, chat.id, { content, stream: false }), 200);
        for (const socket of [first, second]) {
          const created = await socket.waitFor(
            (f) => f.type === 'message.created' && f.message.id === sent.userMessage.id,
            'message.created (user)',
          );
          expect(created).toEqual({
            type: 'message.created',
            chatId: chat.id,
            message: expect.objectContaining({ id: sent.userMessage.id, role: 'user', content, chatId: chat.id }),
          });
          const assistant = await socket.waitFor(
            (f) => f.type === 'message.created' && f.message.id === sent.assistantMessage.id,
            'message.created (assistant)',
          );
          expect(copy(assistant.message)).toMatchObject({ role: 'assistant', status: 'streaming', chatId: chat.id });
          const updated = await socket.waitFor(
            (f) => f.type === 'message.updated' && f.message.id === sent.assistantMessage.id,
            'message.updated (assistant)',
          );
          expect(updated.message).toMatchObject({ status: 'complete', content });
        }
        await Bun.sleep(quietMs);
        expect(other.frames.filter((f) => f.chatId === chat.id)).toEqual([]);
        expect(other.frames.map((f) => f.type)).toEqual(['ready']);
      }, 20_000);

      test('happy: chat.updated on PATCH and chat.deleted on DELETE, to the owner only', async () => {
        const [mine, other] = await Promise.all([ready(alice), ready(bob)]);
        const chat = await createChat(http, alice.accessToken);
        const patched = await http(`/api/v1/chats/${chat.id}`, {
          method: 'PATCH',
          headers: bearer(alice.accessToken),
          json: { title: 'Renamed over HTTP', pinned: true },
        });
        expect(patched.status).toBe(200);
        const updated = await mine.waitFor((f) => f.type === 'chat.updated' && f.chatId === chat.id, 'chat.updated');
        expect(copy(updated.chat)).toMatchObject({ id: chat.id, title: 'Renamed over HTTP', pinned: true });
        const removed = await http(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(alice.accessToken) });
        expect(removed.status).toBe(204);
        expect(await mine.waitFor((f) => f.type === 'chat.deleted', 'chat.deleted')).toEqual({ type: 'chat.deleted', chatId: chat.id });
        // The order is the order of the changes.
        const types = mine.frames.filter((f) => f.chatId === chat.id).map((f) => f.type);
        expect(types).toEqual(['chat.updated', 'chat.deleted']);
        await Bun.sleep(quietMs);
        expect(other.frames.filter((f) => f.chatId === chat.id)).toEqual([]);
      });

      test('happy: a reply sent over the websocket is announced to the owner’s other sockets too', async () => {
        const [sender, watcher] = await Promise.all([ready(alice), ready(alice)]);
        const chat = await createChat(http, alice.accessToken);
        const content = uniqueWords(3, 'echoed');
        sender.send({ type: 'chat.send', chatId: chat.id, content, requestId: 'w' });
        const reply = await sender.reply('w');
        const created = await watcher.waitFor(
          (f) => f.type === 'message.created' && f.message.id === reply.start.userMessageId,
          'message.created on the watcher',
        );
        expect(created.message.content).toBe(content);
        // The watcher did not ask for the reply: it gets no deltas.
        expect(watcher.frames.some((f) => f.type === 'delta')).toBe(false);
      }, 20_000);
    });

    test('happy: 30 sockets, some replies (some left midway), all closed → no socket, follow or follower left', async () => {
      const user = await register(http);
      const chat = await createChat(http, user.accessToken);
      const base = t.services.realtime.stats().sockets;
      const many = await Promise.all(Array.from({ length: 30 }, () => WsClient.ready(wsUrl, user.accessToken)));
      expect(t.services.realtime.stats().sockets).toBe(base + 30);
      // Replies 0 and 1 are short (5 words, 160 ms) and read to the end; 2 and 3 are long (18 words,
      // 680 ms) and their sockets close mid-reply (everything is released about 200 ms in).
      const contents = Array.from({ length: 4 }, (_, i) => uniqueWords(i < 2 ? 5 : 18, `leak${i}`));
      for (const [i, content] of contents.entries()) many[i]!.send({ type: 'chat.send', chatId: chat.id, content, requestId: `leak-${i}` });
      await Promise.all([many[0]!.reply('leak-0'), many[1]!.reply('leak-1')]);
      await Promise.all([2, 3].map((i) => many[i]!.waitFor((f) => f.requestId === `leak-${i}` && f.type === 'delta', 'a delta')));
      // The finished replies' follows end just after their done frame; the two long ones still run.
      await waitUntil(() => t.services.realtime.stats().follows === 2, `2 follows (now ${t.services.realtime.stats().follows})`, 1000);
      expect(t.services.replies.activeCount()).toBeGreaterThanOrEqual(2);
      await Promise.all(many.map((socket) => socket.close()));

      await waitUntil(() => t.services.realtime.stats().sockets === base, 'sockets to be released', 3000);
      await waitUntil(() => t.services.realtime.stats().follows === 0, 'follows to be released', 3000);
      await waitUntil(() => t.services.replies.activeReaders() === 0, 'stream followers to be released', 3000);
      expect(t.services.realtime.stats()).toEqual({ sockets: base, follows: 0 });
      // Everything was released while the two long replies still ran.
      expect(t.services.replies.activeCount()).toBeGreaterThanOrEqual(2);
      // The replies themselves were not stopped by their sockets leaving.
      await waitUntil(() => t.services.replies.activeCount() === 0, 'generations to finish', 15_000);
      const stored = await expectStatus(await http(`/api/v1/chats/${chat.id}`, { headers: bearer(user.accessToken) }), 200);
      const replies = stored.messages.filter((m: Json) => m.role === 'assistant');
      expect(replies).toHaveLength(4);
      expect(replies.map((m: Json) => m.status)).toEqual(['complete', 'complete', 'complete', 'complete']);
      expect(replies.map((m: Json) => m.content).sort()).toEqual([...contents].sort());
      if (kind.kv === 'redis') expect(await userChannelSubscribers(t, user.userId)).toBe(0);
    }, 40_000);

    describe('a socket that closes while the server is still working on it (the hub, through a fake socket)', () => {
      const fakeSocket = () => {
        const frames: Json[] = [];
        const closes: number[] = [];
        const port = { send: (frame: string) => void frames.push(JSON.parse(frame)), close: (code: number) => void closes.push(code) };
        return { id: `fake-${Bun.randomUUIDv7()}`, port, frames, closes };
      };

      test('happy: closed before its token was checked: it is never subscribed to the owner’s events', async () => {
        const user = await register(http);
        const chat = await createChat(http, user.accessToken);
        const hub = t.services.realtime;
        const socket = fakeSocket();
        const opening = hub.open(socket.id, socket.port, '127.0.0.1', user.accessToken);
        await hub.close(socket.id); // the client left at once
        await opening;
        const framesAtClose = socket.frames.length;
        expect(
          (await http(`/api/v1/chats/${chat.id}`, { method: 'PATCH', headers: bearer(user.accessToken), json: { title: 'after close' } }))
            .status,
        ).toBe(200);
        await Bun.sleep(quietMs);
        // Nothing may be sent to a socket after it closed: no ready, no chat.updated.
        expect(socket.frames.slice(framesAtClose)).toEqual([]);
        expect(socket.frames.filter((f) => f.type === 'chat.updated')).toEqual([]);
        expect(socket.frames.filter((f) => f.type === 'ready')).toEqual([]);
      });

      test('happy: closed while its chat.send was being stored: no follower is left behind for the reply', async () => {
        const user = await register(http);
        const chat = await createChat(http, user.accessToken);
        const hub = t.services.realtime;
        const socket = fakeSocket();
        await hub.open(socket.id, socket.port, '127.0.0.1', user.accessToken);
        expect(socket.frames).toEqual([{ type: 'ready', userId: user.userId }]);
        const followersBefore = t.services.replies.activeReaders();
        const sending = hub.message(
          socket.id,
          JSON.stringify({ type: 'chat.send', chatId: chat.id, content: uniqueWords(12, 'orphan'), requestId: 'o' }),
        );
        await hub.close(socket.id); // the client left while the message was being stored
        await sending;
        const framesAtClose = socket.frames.length;
        // A follower would attach within a KV round trip and get a delta every 40 ms.
        await Bun.sleep((3 * quietMs) / 2);
        // The reply runs on (about 440 ms), but nobody should be following it for this socket.
        expect(t.services.replies.activeCount()).toBeGreaterThanOrEqual(1);
        expect(t.services.replies.activeReaders()).toBe(followersBefore);
        expect(socket.frames.slice(framesAtClose).filter((f) => f.type === 'delta')).toEqual([]);
        await waitUntil(() => t.services.replies.activeCount() === 0, 'the reply to finish', 10_000);
      }, 20_000);
    });

    test.if(kind.kv === 'redis')(
      'happy: a socket closed while its token is still being checked leaves no subscription behind',
      async () => {
        const user = await register(http);
        const base = t.services.realtime.stats().sockets;
        for (let i = 0; i < 10; i++) {
          const socket = new WsClient(new WebSocket(`${wsUrl}?token=${user.accessToken}`));
          await socket.opened;
          socket.ws.close(1000, 'changed my mind');
          await socket.closed;
        }
        await waitUntil(() => t.services.realtime.stats().sockets === base, 'sockets to be released', 3000);
        // A subscription made after its socket closed would appear within a Redis round trip.
        await Bun.sleep(2 * quietMs);
        expect(t.services.realtime.stats().sockets).toBe(base);
        expect(await userChannelSubscribers(t, user.userId)).toBe(0);
      },
    );
  });
}

/** How many Redis connections subscribe to the user's event channel (0 once every socket is gone). */
async function userChannelSubscribers(t: TestApp, userId: string): Promise<number> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const reply = (await client.pubsub('NUMSUB', `${t.infra.config.redisKeyPrefix}user:${userId}:events`)) as [string, number];
    return Number(reply[1]);
  } finally {
    client.disconnect();
  }
}
