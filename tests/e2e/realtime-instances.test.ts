// Realtime across real executables: two instances A and B on one Postgres and Redis behave as one
// for streams and websockets (resume on the other instance, events, cancel, a crash), and one
// instance with no services at all (SQLite + memory KV) resumes a reply too.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import {
  bearer,
  copy,
  createChat,
  expectIncreasing,
  expectStatus,
  type Http,
  httpOfUrl,
  type Json,
  login,
  register,
  sendMessage,
  storedMessage,
  uniqueWords,
  waitUntil,
} from '../helpers/client.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';

// Short ping and heartbeat intervals, so a dead producer is noticed in well under a second rather
// than 30 s; a reply of n words lasts (n - 1) × 50 ms; its text so far is stored every 100 ms.
const commonEnv = {
  RATE_LIMIT_ENABLED: 'false',
  ECHO_DELAY_MS: '50',
  SHUTDOWN_GRACE_MS: '1000',
  LOG_LEVEL: 'info',
  SSE_PING_MS: '300',
  REPLY_HEARTBEAT_MS: '200',
  REPLY_FLUSH_MS: '100',
  // Every instance sweeps for replies whose producer died about three times a second.
  REPLY_SWEEP_MS: '300',
};
const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `parley-rt-${label}-`));

/**
 * A reply started on `producer` over SSE; the client leaves after 3 deltas and resumes on
 * `resumer` with Last-Event-ID: no gap, no repeat, ends with done, text == the stored message.
 */
async function resumeElsewhere(producer: Http, resumer: Http): Promise<void> {
  const user = await register(producer);
  const chat = await createChat(producer, user.accessToken);
  // 12 words (550 ms): the client resumes elsewhere while the reply still runs.
  const content = uniqueWords(12, 'resume');
  const response = await sendMessage(producer, user.accessToken, chat.id, { content });
  expect(response.status).toBe(200);
  const first = new SseReader(response);
  const start = (await first.next())!;
  expect(start.event).toBe('start');
  const streamId: string = start.data.streamId;
  const messageId: string = start.data.messageId;
  await first.untilDeltas(3);
  await first.cancel();
  const lastId = first.events.at(-1)!.id;

  const resumed = new SseReader(
    await resumer(`/api/v1/streams/${streamId}`, { headers: { ...bearer(user.accessToken), 'last-event-id': lastId } }),
  );
  await resumed.rest(30_000);
  expect(resumed.ended).toBe(true);
  expect(resumed.events[0]!.event).toBe('delta');
  expect(resumed.events.some((e) => e.event === 'start')).toBe(false);
  expect(copy(resumed.events.at(-1))).toMatchObject({ event: 'done', data: { messageId, finishReason: 'stop' } });

  const ids = [...first.ids, ...resumed.ids];
  expectIncreasing(ids);
  const whole = await expectStatus(
    await resumer(`/api/v1/streams/${streamId}`, { headers: { ...bearer(user.accessToken), accept: 'application/json' } }),
    200,
  );
  expect(whole.closed).toBe(true);
  expect(whole.events.map((e: Json) => e.id)).toEqual(ids);

  const text = first.text + resumed.text;
  expect(text).toBe(content);
  expect(await storedMessage(resumer, user.accessToken, chat.id, messageId)).toMatchObject({ status: 'complete', content: text });
}

describe.if(hasPostgres && hasRedis)('realtime across two executables on one Postgres and Redis', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let env: Record<string, string>;
  let a: RunningBinary;
  let b: RunningBinary;
  let c: RunningBinary | undefined;
  let onA: Http;
  let onB: Http;
  let cleanup: () => Promise<void>;
  const dirs: string[] = [];
  const launch = (label: string) => {
    const dir = tempDir(label);
    dirs.push(dir);
    return startBinary({ path: binary.path, cwd: binary.dir, env: { ...env, DATA_DIR: dir } });
  };

  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    const database = await createTestDatabase();
    const redis = createTestRedisPrefix();
    env = {
      ...commonEnv,
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redis.prefix,
      JWT_SECRET: 'shared-secret-for-realtime-instances-0123456789',
    };
    [a, b] = await Promise.all([launch('a'), launch('b')]);
    onA = httpOfUrl(a.url);
    onB = httpOfUrl(b.url);
    cleanup = async () => {
      await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL'), c?.stop('SIGKILL')]);
      await redis.cleanup();
      await database.drop();
      binary.remove();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    };
  }, 180_000);
  afterAll(() => cleanup?.());

  test('happy: (a) a reply started on A, left after a few events, resumes on B with Last-Event-ID: no gap, no repeat, ends with done', async () => {
    await resumeElsewhere(onA, onB);
  }, 60_000);

  test('happy: (b) a websocket on B hears message.created for a message created through A’s HTTP API', async () => {
    const user = await register(onA);
    const socket = await WsClient.ready(`${b.url.replace(/^http/, 'ws')}/api/v1/ws`, user.accessToken);
    const other = await register(onA);
    const otherSocket = await WsClient.ready(`${b.url.replace(/^http/, 'ws')}/api/v1/ws`, other.accessToken);
    try {
      const chat = await createChat(onA, user.accessToken);
      const content = uniqueWords(3, 'across');
      const sent = await expectStatus(await sendMessage(onA, user.accessToken, chat.id, { content, stream: false }), 200);
      const created = await socket.waitFor(
        (f) => f.type === 'message.created' && f.message?.id === sent.userMessage.id,
        'message.created on B',
      );
      expect(copy(created)).toMatchObject({
        type: 'message.created',
        chatId: chat.id,
        message: { id: sent.userMessage.id, role: 'user', content },
      });
      await socket.waitFor(
        (f) => f.type === 'message.created' && f.message?.id === sent.assistantMessage.id,
        'the assistant message.created on B',
      );
      const updated = await socket.waitFor(
        (f) => f.type === 'message.updated' && f.message?.id === sent.assistantMessage.id,
        'message.updated on B',
      );
      expect(updated.message).toMatchObject({ status: 'complete', content });
      // The other user's socket gets nothing (B relays events within a few ms).
      await Bun.sleep(100);
      expect(otherSocket.frames.map((f) => f.type)).toEqual(['ready']);
    } finally {
      await Promise.all([socket.close(), otherSocket.close()]);
    }
  }, 30_000);

  test('happy: (c) a cancel sent to B stops a generation running on A: A’s stream ends with done cancelled and the message is cancelled', async () => {
    const user = await register(onA);
    const chat = await createChat(onA, user.accessToken);
    // 100 words would take 5 s; the cancel ends the reply after about two.
    const content = uniqueWords(100, 'cancel');
    const reader = new SseReader(await sendMessage(onA, user.accessToken, chat.id, { content }));
    const start = (await reader.next())!;
    const messageId: string = start.data.messageId;
    await reader.untilDeltas(2);
    const accepted = await onB(`/api/v1/chats/${chat.id}/messages/${messageId}/cancel`, {
      method: 'POST',
      headers: bearer(user.accessToken),
    });
    expect(await expectStatus(accepted, 202)).toEqual({ messageId, cancelling: true });
    const cancelledAt = Date.now();
    await reader.rest(10_000);
    expect(reader.ended).toBe(true);
    expect(copy(reader.events.at(-1))).toMatchObject({ event: 'done', data: { messageId, finishReason: 'cancelled' } });
    // It stopped soon after the cancel, well before the 100 words (5 s) were through.
    expect(Date.now() - cancelledAt).toBeLessThan(2000);
    expect(reader.text.length).toBeLessThan(content.length);
    expect(content.startsWith(reader.text)).toBe(true);
    for (const on of [onA, onB]) {
      expect(await storedMessage(on, user.accessToken, chat.id, messageId)).toMatchObject({
        status: 'cancelled',
        finishReason: 'cancelled',
        content: reader.text,
      });
    }
  }, 30_000);

  test('security: (f) a websocket on A loses its rights when its session ends on B: error unauthorized, then 4401 within 1 s; a chat.send sent right after stores nothing and calls no model; an SSE reader on A ends with an error event', async () => {
    const user = await register(onA);
    const other = await login(onB, user.email, user.password);
    const chat = await createChat(onA, user.accessToken);
    const socket = await WsClient.ready(`${a.url.replace(/^http/, 'ws')}/api/v1/ws`, user.accessToken);
    const { id } = await expectStatus(await onA('/api/v1/streams', { method: 'POST', headers: bearer(user.accessToken), json: {} }), 201);
    await expectStatus(
      await onA(`/api/v1/streams/${id}/append`, { method: 'POST', headers: bearer(user.accessToken), json: { event: 'note', data: 1 } }),
      202,
    );
    const reader = new SseReader(await onA(`/api/v1/streams/${id}`, { headers: bearer(user.accessToken) }));
    const note = (await reader.next())!;
    try {
      expect((await onB('/api/v1/auth/logout', { method: 'POST', headers: bearer(user.accessToken) })).status).toBe(204);
      const since = Date.now();
      const content = uniqueWords(3, 'revoked');
      if (socket.isOpen) socket.send({ type: 'chat.send', chatId: chat.id, content, requestId: 'r' });
      const closed = await Promise.race([socket.closed, Bun.sleep(2000).then(() => undefined)]);
      expect(closed?.code).toBe(4401);
      expect(Date.now() - since).toBeLessThan(1000);
      expect(copy(socket.frames.at(-1))).toMatchObject({ type: 'error', code: 'unauthorized' });
      expect(socket.frames.filter((f) => f.type === 'start' || f.type === 'message.created')).toEqual([]);
      expect(copy(await reader.next(2000))).toMatchObject({ event: 'error', id: note.id, data: { code: 'unauthorized' } });
      expect(await reader.next(2000)).toBeUndefined();
      expect(Date.now() - since).toBeLessThan(1000);
      await Bun.sleep(300);
      const stored = await expectStatus(await onB(`/api/v1/chats/${chat.id}`, { headers: bearer(other.accessToken) }), 200);
      expect(stored.messages).toEqual([]);
      const usage = await expectStatus(await onB('/api/v1/users/me/usage', { headers: bearer(other.accessToken) }), 200);
      expect(usage.totals.requests).toBe(0);
    } finally {
      await Promise.all([socket.close(), reader.cancel()]);
    }
  }, 30_000);

  test('error: (d) A killed mid-reply: B replays what A produced and ends with error interrupted; with no restart, B’s sweeper marks the message interrupted with the text the stream carried', async () => {
    const user = await register(onA);
    const chat = await createChat(onA, user.accessToken);
    // 60 words (3 s): A is killed well before the end.
    const content = uniqueWords(60, 'crash');
    const fromA = new SseReader(await sendMessage(onA, user.accessToken, chat.id, { content }));
    const start = (await fromA.next())!;
    const { streamId, messageId } = start.data as { streamId: string; messageId: string };
    await fromA.untilDeltas(5);
    await fromA.cancel();
    // Some of the text has been stored (REPLY_FLUSH_MS) before the kill.
    await waitUntil(
      async () => (await storedMessage(onB, user.accessToken, chat.id, messageId)).content.length > 0,
      'the reply so far to be flushed',
      5000,
    );
    expect(await a.stop('SIGKILL')).not.toBe(0);
    const killedAt = Date.now();

    const replay = new SseReader(await onB(`/api/v1/streams/${streamId}`, { headers: bearer(user.accessToken) }));
    await replay.rest(60_000);
    const noticedAfterMs = Date.now() - killedAt;
    expect(replay.ended).toBe(true);
    expect(replay.events[0]).toEqual(start);
    // Everything A read before the kill is replayed, in order, then more may follow.
    expect(replay.events.slice(0, fromA.events.length)).toEqual(fromA.events);
    const last = replay.events.at(-1)!;
    expect(copy(last)).toMatchObject({ event: 'error', data: { code: 'interrupted', message: expect.any(String) } });
    expect(replay.events.filter((e) => e.event === 'done')).toEqual([]);
    expect(content.startsWith(replay.text)).toBe(true);
    expect(replay.text.length).toBeLessThan(content.length);
    // Idle tick (300 ms) + heartbeat TTL (600 ms) at worst, with room for a busy machine.
    expect(noticedAfterMs).toBeLessThan(5000);
    console.info(`[realtime-instances] B reported the interruption ${noticedAfterMs} ms after A was killed`);

    // No instance restarts: B's sweeper settles it, three missed heartbeats (600 ms) and one sweep (300 ms) after the kill.
    const stored = await waitUntil(
      async () => {
        const message = await storedMessage(onB, user.accessToken, chat.id, messageId);
        return message.status !== 'streaming' && message;
      },
      'an instance to settle the message',
      10_000,
    );
    const settledAfterMs = Date.now() - killedAt;
    console.info(`[realtime-instances] B settled the message ${settledAfterMs} ms after A was killed`);
    expect(stored).toMatchObject({ status: 'interrupted', finishReason: 'interrupted' });
    // The text kept is all the stream carried (more than the last flush), not a flushed prefix.
    expect(stored.content).toBe(replay.text);
    expect(settledAfterMs).toBeLessThan(10_000);
    // The buffer was ended with an interrupted error, so later readers end at once.
    const whole = await expectStatus(
      await onB(`/api/v1/streams/${streamId}`, { headers: { ...bearer(user.accessToken), accept: 'application/json' } }),
      200,
    );
    expect(whole.closed).toBe(true);
    expect(copy(whole.events.at(-1))).toMatchObject({ event: 'error', data: { code: 'interrupted' } });
    const again = new SseReader(await onB(`/api/v1/streams/${streamId}`, { headers: bearer(user.accessToken) }));
    await again.rest(5000);
    expect(again.ended).toBe(true);
    expect(again.events.at(-1)?.data.code).toBe('interrupted');
  }, 120_000);

  test('error: (g) a producer killed and restarted at once (within its heartbeat TTL) leaves no reply streaming; a cancel sent right after a kill settles the reply there and then; regenerate then works', async () => {
    c = await launch('c');
    let onC = httpOfUrl(c.url);
    const user = await register(onC);
    const chat = await createChat(onC, user.accessToken);
    /** A reply of 18 words (850 ms, as long as the regenerate at the end) on C, which is killed after 3 deltas (100 ms). */
    const produceThenKill = async () => {
      const fromC = new SseReader(await sendMessage(onC, user.accessToken, chat.id, { content: uniqueWords(18, 'restart') }));
      const start = (await fromC.next())!;
      await fromC.untilDeltas(3);
      await fromC.cancel();
      expect(await c!.stop('SIGKILL')).not.toBe(0);
      return start.data as { streamId: string; messageId: string };
    };
    /** The stream as stored in the buffer: whether it ended, its last event, and its deltas' text. */
    const buffered = async (on: Http, streamId: string) => {
      const whole = await expectStatus(
        await on(`/api/v1/streams/${streamId}`, { headers: { ...bearer(user.accessToken), accept: 'application/json' } }),
        200,
      );
      const events = whole.events as { event: string; data: Json }[];
      const text = events
        .filter((e) => e.event === 'delta')
        .map((e) => e.data.text)
        .join('');
      return { closed: whole.closed as boolean, last: events.at(-1), text };
    };

    // Killed, and back at once: the message is settled all the same (it used to stay streaming for ever).
    const first = await produceThenKill();
    const killedAt = Date.now();
    c = await launch('c');
    onC = httpOfUrl(c.url);
    const settled = await waitUntil(
      async () => {
        const message = await storedMessage(onC, user.accessToken, chat.id, first.messageId);
        return message.status !== 'streaming' && message;
      },
      'the message to be settled after the restart',
      10_000,
    );
    console.info(`[realtime-instances] settled ${Date.now() - killedAt} ms after a kill and an immediate restart`);
    expect(settled).toMatchObject({ status: 'interrupted', finishReason: 'interrupted' });
    const firstBuffer = await buffered(onC, first.streamId);
    expect(firstBuffer.closed).toBe(true);
    expect(copy(firstBuffer.last)).toMatchObject({ event: 'error', data: { code: 'interrupted' } });
    expect(settled.content).toBe(firstBuffer.text);

    // Killed again; a cancel on B at once, while the dead producer's heartbeat key still lives:
    // no producer acknowledges it, so B settles the reply before answering 202.
    const second = await produceThenKill();
    const accepted = await onB(`/api/v1/chats/${chat.id}/messages/${second.messageId}/cancel`, {
      method: 'POST',
      headers: bearer(user.accessToken),
    });
    expect(await expectStatus(accepted, 202)).toEqual({ messageId: second.messageId, cancelling: true });
    const cancelled = await storedMessage(onB, user.accessToken, chat.id, second.messageId);
    expect(cancelled).toMatchObject({ status: 'interrupted', finishReason: 'interrupted' });
    expect(cancelled.content).toBe((await buffered(onB, second.streamId)).text);
    expect(cancelled.content.length).toBeGreaterThan(0);

    // Regenerate answers the turn again, on B.
    const again = await onB(`/api/v1/chats/${chat.id}/messages/${second.messageId}/regenerate`, {
      method: 'POST',
      headers: bearer(user.accessToken),
    });
    expect(again.status).toBe(200);
    const regenerated = new SseReader(again);
    await regenerated.rest(30_000);
    expect(copy(regenerated.events.at(-1))).toMatchObject({ event: 'done', data: { finishReason: 'stop' } });
    const newId = regenerated.events[0]!.data.messageId as string;
    expect(await storedMessage(onB, user.accessToken, chat.id, newId)).toMatchObject({ status: 'complete', content: regenerated.text });
  }, 120_000);
});

describe('realtime on one executable with no services (SQLite + memory KV)', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let solo: RunningBinary;
  let dataDir: string;
  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    dataDir = tempDir('solo');
    solo = await startBinary({ path: binary.path, cwd: binary.dir, env: { ...commonEnv, DATA_DIR: dataDir } });
  }, 180_000);
  afterAll(async () => {
    await solo?.stop();
    binary?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('happy: (e) a reply left after a few events resumes with Last-Event-ID: no gap, no repeat, ends with done', async () => {
    expect(solo.logs.find((line) => line.msg === 'listening')).toMatchObject({ database: 'sqlite', kv: 'memory' });
    const http = httpOfUrl(solo.url);
    await resumeElsewhere(http, http);
  }, 60_000);
});
