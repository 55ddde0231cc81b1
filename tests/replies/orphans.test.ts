// "Every reply settles" when its producer dies (break-it run F3), on every storage kind. A dead
// producer is staged in process exactly as the engine leaves one after kill -9: the message
// `streaming` with a prefix flushed, its stream buffer holding more (start and deltas, no end),
// and a heartbeat key that is no longer refreshed (tests/e2e/realtime-instances.test.ts kills a
// real executable). The sweeper settles it `interrupted` within three heartbeats and one sweep,
// with the buffer's text; cancel on it settles it at once; regenerate then works; a live reply
// is never swept; several sweepers settle an orphan once.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { generationKeys } from '../../src/modules/replies/engine.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { expectedReply } from '../fakes/upstream-core.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  bearer,
  createChat,
  expectError,
  expectStatus,
  type Json,
  register,
  storedMessage,
  streamMessage,
  uniqueText,
  waitUntil,
  withNamedEvents,
} from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';
import { readSse, SseReader } from '../helpers/sse.ts';

// The sweeping app: heartbeats every 100 ms (a producer is dead after 300 ms of silence), a sweep
// every 100 ms (both the least the config allows).
const HEARTBEAT_MS = 100;
const SWEEP_MS = 100;
// The apps whose sweeper stays out of the way (every 10 min), so cancel and regenerate are what settles.
const QUIET_ENV = { REPLY_SWEEP_MS: '600000', REPLY_HEARTBEAT_MS: '1000' };
// The same with a heartbeat of 250 ms: a cancel then waits at most 250 ms for a live producer to
// acknowledge (min(max(heartbeat, 250 ms), 2 s)).
const QUIET_ACK_MS = 250;
const QUIET_SHORT_ACK_ENV = { ...QUIET_ENV, REPLY_HEARTBEAT_MS: String(QUIET_ACK_MS) };

const DELTAS = ['Half ', 'a reply ', 'that stops ', 'short'];
const STREAMED = DELTAS.join('');
// The last flush was a while before the death: the buffer holds more than the row.
const FLUSHED = DELTAS[0]!;

let fake: FakeUpstream;
beforeAll(async () => {
  // fake-slow: about 55 words, 15 ms apart (about 0.8 s): several sweeps run while it streams.
  fake = await startFakeUpstream({ slowChunkMs: 15 });
});
afterAll(() => fake.stop());

type Orphan = { chatId: string; questionId: string; messageId: string; streamId: string };

/**
 * A reply whose producer died, as the engine leaves it: the question and the reply (`streaming`,
 * FLUSHED stored, last written a minute ago), the stream buffer with `start` and DELTAS and no
 * end, and the heartbeat key alive for `heartbeatMs` more (0: lapsed already).
 */
async function stageOrphan(app: TestApp, account: Account, heartbeatMs: number): Promise<Orphan> {
  const chat = await createChat(app, account.accessToken, { provider: 'echo' });
  const { db, kv, config } = app.infra;
  const [questionId, messageId, streamId] = [Bun.randomUUIDv7(), Bun.randomUUIDv7(), Bun.randomUUIDv7()];
  const past = new Date(Date.now() - 60_000);
  await db.run((q) =>
    q.insert(db.tables.messages).values([
      { id: questionId, chatId: chat.id, role: 'user', content: 'a question', sortKey: questionId, createdAt: past, updatedAt: past },
      {
        id: messageId,
        chatId: chat.id,
        parentId: questionId,
        sortKey: `${questionId}:${messageId}`,
        role: 'assistant',
        content: FLUSHED,
        status: 'streaming',
        provider: 'echo',
        model: 'echo',
        createdAt: past,
        updatedAt: past,
      },
    ]),
  );
  const ttl = config.streamTtlSeconds;
  const { buffers } = app.services;
  await buffers.create(streamId, {
    ownerId: account.userId,
    kind: 'generation',
    ttlSeconds: ttl,
    producerAliveKey: generationKeys.alive(messageId),
  });
  await kv.set(generationKeys.streamOf(messageId), streamId, { ttlMs: ttl * 1000 });
  if (heartbeatMs > 0) await kv.set(generationKeys.alive(messageId), streamId, { ttlMs: heartbeatMs });
  const start = { chatId: chat.id, userMessageId: questionId, messageId, streamId, provider: 'echo', model: 'echo' };
  await buffers.append(streamId, 'start', JSON.stringify(start), ttl);
  for (const text of DELTAS) await buffers.append(streamId, 'delta', JSON.stringify({ text }), ttl);
  return { chatId: chat.id, questionId, messageId, streamId };
}

const cancel = (app: TestApp, token: string, orphan: Orphan) =>
  app.request(`/api/v1/chats/${orphan.chatId}/messages/${orphan.messageId}/cancel`, { method: 'POST', headers: bearer(token) });
const regenerate = (app: TestApp, token: string, orphan: Orphan) =>
  app.request(`/api/v1/chats/${orphan.chatId}/messages/${orphan.messageId}/regenerate`, { method: 'POST', headers: bearer(token) });

/** The orphan as settled: interrupted, with the whole text its stream carried, and a stream that ends with error interrupted. */
async function expectSettled(app: TestApp, account: Account, orphan: Orphan) {
  expect(await storedMessage(app, account.accessToken, orphan.chatId, orphan.messageId)).toMatchObject({
    status: 'interrupted',
    finishReason: 'interrupted',
    content: STREAMED,
  });
  const whole = await expectStatus(
    await app.request(`/api/v1/streams/${orphan.streamId}`, { headers: { ...bearer(account.accessToken), accept: 'application/json' } }),
    200,
  );
  expect(whole.closed).toBe(true);
  const events = whole.events as { event: string; data: Json }[];
  expect(events.map((e) => e.event)).toEqual(['start', ...DELTAS.map(() => 'delta'), 'error']);
  expect(events.at(-1)!.data).toMatchObject({ code: 'interrupted' });
  // A reader arriving now replays it all and ends at once.
  const replay = await readSse(await app.request(`/api/v1/streams/${orphan.streamId}`, { headers: bearer(account.accessToken) }), {
    timeoutMs: 2000,
  });
  expect(replay.ended).toBe(true);
  expect(replay.text).toBe(STREAMED);
  expect(replay.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'interrupted' } });
}

/** Regenerate answers the orphan's question afresh (echo: the question itself), stored complete. */
async function expectRegenerates(app: TestApp, account: Account, orphan: Orphan) {
  const response = await regenerate(app, account.accessToken, orphan);
  expect(response.status).toBe(200);
  const streamed = withNamedEvents(response, await readSse(response));
  expect(streamed.done).toMatchObject({ messageId: streamed.start.messageId, finishReason: 'stop' });
  expect(streamed.text).toBe('a question');
  expect(await storedMessage(app, account.accessToken, orphan.chatId, streamed.start.messageId)).toMatchObject({
    status: 'complete',
    content: 'a question',
    parentId: orphan.questionId,
  });
}

for (const [name, kind] of kinds) {
  describe(`replies whose producer died, on ${name}`, () => {
    let sweeping: TestApp;
    let quiet: TestApp;
    beforeAll(async () => {
      [sweeping, quiet] = await Promise.all([
        createTestApp(kind, llmEnv(fake, { REPLY_HEARTBEAT_MS: String(HEARTBEAT_MS), REPLY_SWEEP_MS: String(SWEEP_MS) })),
        createTestApp(kind, llmEnv(fake, QUIET_SHORT_ACK_ENV)),
      ]);
    });
    afterAll(() => Promise.all([sweeping.close(), quiet.close()]));

    test('error: the sweeper settles a reply whose producer stopped beating as interrupted, within three heartbeats and one sweep, with the text its stream holds; regenerate then works', async () => {
      const account = await register(sweeping);
      // It beat once more just before dying: its key lives three heartbeats.
      const diedAt = Date.now();
      const orphan = await stageOrphan(sweeping, account, HEARTBEAT_MS * 3);
      await waitUntil(
        async () => (await storedMessage(sweeping, account.accessToken, orphan.chatId, orphan.messageId)).status !== 'streaming',
        'the sweeper to settle the reply',
        5000,
      );
      const settledAfterMs = Date.now() - diedAt;
      // Three heartbeats (300 ms) and one sweep (200 ms), with room for a busy machine.
      expect(settledAfterMs).toBeLessThan(HEARTBEAT_MS * 3 + SWEEP_MS + 1500);
      await expectSettled(sweeping, account, orphan);
      // Nothing is left to cancel; regenerate answers the turn again.
      await expectError(await cancel(sweeping, account.accessToken, orphan), 409, 'conflict');
      await expectRegenerates(sweeping, account, orphan);
    });

    test('happy: a live reply is never swept: with sweeps running all along, it streams to done and is stored complete', async () => {
      const account = await register(sweeping);
      const chat = await createChat(sweeping, account.accessToken, { provider: 'openai', model: 'fake-slow' });
      const question = uniqueText('alive');
      const sweeps: Promise<number>[] = [];
      const timer = setInterval(() => sweeps.push(sweeping.services.replies.sweep()), 50);
      try {
        const streamed = await streamMessage(sweeping, account.accessToken, chat.id, { content: question });
        expect(streamed.events.at(-1)?.event).toBe('done');
        expect(streamed.text).toBe(expectedReply(question, 'fake-slow'));
        expect(await storedMessage(sweeping, account.accessToken, chat.id, streamed.start.messageId)).toMatchObject({
          status: 'complete',
          content: streamed.text,
        });
      } finally {
        clearInterval(timer);
      }
      expect(sweeps.length).toBeGreaterThan(10);
      expect(await Promise.all(sweeps)).toEqual(sweeps.map(() => 0));
    });

    test('error: cancel on a reply whose heartbeat has lapsed settles it at once (202, the row interrupted with the stream’s text); regenerate then works', async () => {
      const account = await register(quiet);
      const orphan = await stageOrphan(quiet, account, 0);
      const accepted = await cancel(quiet, account.accessToken, orphan);
      expect(await expectStatus(accepted, 202)).toEqual({ messageId: orphan.messageId, cancelling: true });
      await expectSettled(quiet, account, orphan);
      await expectError(await cancel(quiet, account.accessToken, orphan), 409, 'conflict');
      await expectRegenerates(quiet, account, orphan);
    });

    test('error: cancel while a dead producer’s heartbeat key still lives (its instance restarted within the TTL): no producer acknowledges, so the cancel settles it', async () => {
      const account = await register(quiet);
      const orphan = await stageOrphan(quiet, account, 60_000);
      const askedAt = Date.now();
      const accepted = await cancel(quiet, account.accessToken, orphan);
      expect(accepted.status).toBe(202);
      // It waited for an acknowledgement, not for the heartbeat key to lapse (60 s).
      expect(Date.now() - askedAt).toBeLessThan(QUIET_ACK_MS + 1500);
      await expectSettled(quiet, account, orphan);
      await expectRegenerates(quiet, account, orphan);
    });

    test('error: regenerate of a reply whose producer is gone settles it and answers; while its heartbeat lives it is still 409', async () => {
      const account = await register(quiet);
      const orphan = await stageOrphan(quiet, account, 60_000);
      await expectError(await regenerate(quiet, account.accessToken, orphan), 409, 'conflict');
      expect((await storedMessage(quiet, account.accessToken, orphan.chatId, orphan.messageId)).status).toBe('streaming');
      // The key lapses (three missed heartbeats).
      await quiet.infra.kv.del(generationKeys.alive(orphan.messageId));
      await expectRegenerates(quiet, account, orphan);
      // The settled reply is the new one's sibling: back on its branch, it reads interrupted.
      const select = `/api/v1/chats/${orphan.chatId}/messages/${orphan.messageId}/select`;
      await expectStatus(await quiet.request(select, { method: 'POST', headers: bearer(account.accessToken) }), 200);
      await expectSettled(quiet, account, orphan);
    });

    test('security: another user cannot cancel or regenerate someone’s orphaned reply, and their attempt settles nothing', async () => {
      const [owner, intruder] = [await register(quiet), await register(quiet)];
      const orphan = await stageOrphan(quiet, owner, 0);
      await expectError(await cancel(quiet, intruder.accessToken, orphan), 404, 'not_found');
      await expectError(await regenerate(quiet, intruder.accessToken, orphan), 404, 'not_found');
      expect(await storedMessage(quiet, owner.accessToken, orphan.chatId, orphan.messageId)).toMatchObject({
        status: 'streaming',
        content: FLUSHED,
      });
      expect((await cancel(quiet, owner.accessToken, orphan)).status).toBe(202);
      await expectSettled(quiet, owner, orphan);
    });

    test('happy: sweeps running at once settle an orphan once: one interrupted error in its stream, one settled count', async () => {
      const account = await register(quiet);
      const orphan = await stageOrphan(quiet, account, 0);
      const counts = await Promise.all(Array.from({ length: 6 }, () => quiet.services.replies.sweep()));
      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(1);
      await expectSettled(quiet, account, orphan);
    });
  });
}

describe.if(hasPostgres && hasRedis)('orphaned replies across two instances on one Postgres and Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp({ database: 'postgres', kv: 'redis' }, llmEnv(fake, QUIET_ENV));
    // B shares A's database, key prefix and secret: the same service behind a load balancer.
    b = await createSecondInstance(a, llmEnv(fake, QUIET_ENV));
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  test('happy: both instances sweeping at once settle an orphan once', async () => {
    const account = await register(a);
    const orphan = await stageOrphan(a, account, 0);
    const counts = await Promise.all([a, b, a, b].map((app) => app.services.replies.sweep()));
    expect(counts.reduce((sum, n) => sum + n, 0)).toBe(1);
    await expectSettled(b, account, orphan);
  });

  test('happy: a cancel on B of a reply A is generating still stops it on A (A acknowledges; nothing is settled behind its back)', async () => {
    const account = await register(a);
    const chat = await createChat(a, account.accessToken, { provider: 'openai', model: 'fake-slow' });
    const response = await a.request(`/api/v1/chats/${chat.id}/messages`, {
      method: 'POST',
      headers: bearer(account.accessToken),
      json: { content: uniqueText('cancel across') },
    });
    const reader = new SseReader(response);
    const start = (await reader.next())!;
    await reader.untilDeltas(2);
    const accepted = await b.request(`/api/v1/chats/${chat.id}/messages/${start.data.messageId}/cancel`, {
      method: 'POST',
      headers: bearer(account.accessToken),
    });
    expect(accepted.status).toBe(202);
    await reader.rest(5000);
    expect(reader.events.at(-1)).toMatchObject({ event: 'done', data: { finishReason: 'cancelled' } });
    expect(await storedMessage(b, account.accessToken, chat.id, start.data.messageId)).toMatchObject({
      status: 'cancelled',
      content: reader.text,
    });
  });
});
