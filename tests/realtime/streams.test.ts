// Resumable streams in process, on every storage kind: generic streams (create, append, replay then
// follow live, resume after an id, JSON dump, limits, owner only) and reply streams (leave midway,
// resume with Last-Event-ID, no gap and no repeat), plus a leak check of followers.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  bearer,
  copy,
  createChat,
  expectIncreasing,
  expectStatus,
  type Http,
  httpOf,
  type Json,
  register,
  sendMessage,
  storedMessage,
  uniqueWords,
  waitUntil,
} from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';
import { compareEventIds, deltaText, SseReader } from '../helpers/sse.ts';

const kinds = storageKinds({ postgres: hasPostgres, redis: hasRedis });
// 40 ms between the echo provider's words: each word is its own delta (an append takes far less),
// and a reply of n words lasts (n - 1) × 40 ms.
const baseEnv = { RATE_LIMIT_ENABLED: 'false', ECHO_DELAY_MS: '40' };

for (const [name, kind] of kinds) {
  describe(`streams on ${name}`, () => {
    let t: TestApp;
    let limited: TestApp;
    let http: Http;
    let owner: Account;
    let stranger: Account;
    beforeAll(async () => {
      [t, limited] = await Promise.all([
        createTestApp(kind, baseEnv),
        createTestApp(kind, { ...baseEnv, STREAM_MAX_EVENTS: '3', STREAM_MAX_BYTES: '1024' }),
      ]);
      http = httpOf(t);
      [owner, stranger] = await Promise.all([register(http), register(http)]);
    });
    afterAll(async () => {
      await Promise.all([t?.close(), limited?.close()]);
    });

    const createStream = async (as: Account = owner, body: Record<string, unknown> = {}, on: Http = http) =>
      expectStatus(await on('/api/v1/streams', { method: 'POST', headers: bearer(as.accessToken), json: body }), 201);
    const append = (id: string, body: Record<string, unknown>, as: Account = owner, on: Http = http) =>
      on(`/api/v1/streams/${id}/append`, { method: 'POST', headers: bearer(as.accessToken), json: body });
    const appendOk = async (id: string, body: Record<string, unknown>, as: Account = owner, on: Http = http): Promise<string> => {
      const appended = await expectStatus(await append(id, body, as, on), 202);
      expect(appended).toEqual({ id: expect.stringMatching(/^\d+-\d+$/) });
      return appended.id;
    };
    const closeStream = (id: string, as: Account = owner) =>
      http(`/api/v1/streams/${id}/close`, { method: 'POST', headers: bearer(as.accessToken) });
    const open = (id: string, headers: Record<string, string> = {}, query = '', as: Account = owner) =>
      http(`/api/v1/streams/${id}${query}`, { headers: { ...bearer(as.accessToken), ...headers } });
    const dump = async (id: string, as: Account = owner) => expectStatus(await open(id, { accept: 'application/json' }, '', as), 200);

    describe('generic streams', () => {
      test('happy: create answers 201 {id, ttlSeconds}; a custom TTL is kept; a TTL under 10 s is 422', async () => {
        const created = await createStream();
        expect(created).toEqual({ id: expect.any(String), ttlSeconds: 3600 });
        expect(created.id.length).toBeGreaterThan(0);
        const custom = await createStream(owner, { ttlSeconds: 60 });
        expect(custom.ttlSeconds).toBe(60);
        expect(custom.id).not.toBe(created.id);
        await expectStatus(
          await http('/api/v1/streams', { method: 'POST', headers: bearer(owner.accessToken), json: { ttlSeconds: 5 } }),
          422,
          'validation_error',
        );
        await expectStatus(await http('/api/v1/streams', { method: 'POST', json: {} }), 401, 'unauthorized');
      });

      test('happy: append answers 202 {id} with increasing ids; SSE replays them, follows live, and ends after close', async () => {
        const { id } = await createStream();
        const appended = [
          { event: 'note', data: { n: 1, text: 'first' } },
          { data: 'a plain string' },
          { event: 'progress', data: [1, 2, { deep: true, line: 'a\nb' }] },
        ];
        const ids: string[] = [];
        for (const body of appended) ids.push(await appendOk(id, body));
        expectIncreasing(ids);

        const response = await open(id);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toStartWith('text/event-stream');
        const reader = new SseReader(response);
        const replayed = await reader.read(3);
        expect(replayed).toEqual([
          { id: ids[0]!, event: 'note', data: { n: 1, text: 'first' } },
          { id: ids[1]!, event: 'message', data: 'a plain string' },
          { id: ids[2]!, event: 'progress', data: [1, 2, { deep: true, line: 'a\nb' }] },
        ]);

        // Live: appended while the reader is connected, it arrives without a new request.
        const pending = reader.next(5000);
        await Bun.sleep(100);
        const liveId = await appendOk(id, { event: 'live', data: { at: 'now' } });
        expect(await pending).toEqual({ id: liveId, event: 'live', data: { at: 'now' } });
        expect(compareEventIds(liveId, ids[2]!)).toBeGreaterThan(0);

        const closed = await closeStream(id);
        expect(closed.status).toBe(200);
        expect(await reader.next(5000)).toBeUndefined();
        expect(reader.ended).toBe(true);
        expect(reader.events).toHaveLength(4);
      });

      test('happy: ?after= and Last-Event-ID resume exactly after that id: no gap, no repeat', async () => {
        const { id } = await createStream();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await appendOk(id, { event: 'n', data: i }));
        expect((await closeStream(id)).status).toBe(200);

        for (let cut = 0; cut < ids.length; cut++) {
          const byQuery = new SseReader(await open(id, {}, `?after=${ids[cut]}`));
          const byHeader = new SseReader(await open(id, { 'last-event-id': ids[cut]! }));
          for (const reader of [byQuery, byHeader]) {
            await reader.rest(5000);
            expect(reader.ended).toBe(true);
            expect(reader.ids).toEqual(ids.slice(cut + 1));
            expect(reader.events.map((e) => e.data)).toEqual([0, 1, 2, 3, 4].slice(cut + 1));
          }
        }
        // Without a resume point: the whole stream.
        const whole = new SseReader(await open(id));
        await whole.rest(5000);
        expect(whole.ids).toEqual(ids);
      });

      test('happy: resume while live: a reader resuming mid-stream gets the rest, then what is appended next', async () => {
        const { id } = await createStream();
        const first = await appendOk(id, { data: 'one' });
        const second = await appendOk(id, { data: 'two' });
        const reader = new SseReader(await open(id, { 'last-event-id': first }));
        expect(await reader.next(5000)).toEqual({ id: second, event: 'message', data: 'two' });
        const third = await appendOk(id, { data: 'three' });
        expect(await reader.next(5000)).toEqual({ id: third, event: 'message', data: 'three' });
        await closeStream(id);
        expect(await reader.next(5000)).toBeUndefined();
        expect(reader.ids).toEqual([second, third]);
      });

      test('happy: Accept: application/json returns {id, kind, closed, events[{id, event, data}]}', async () => {
        const { id } = await createStream();
        const a = await appendOk(id, { event: 'x', data: { k: 'v' } });
        const b = await appendOk(id, { data: 42 });
        expect(await dump(id)).toEqual({
          id,
          kind: 'generic',
          closed: false,
          events: [
            { id: a, event: 'x', data: { k: 'v' } },
            { id: b, event: 'message', data: 42 },
          ],
        });
        await closeStream(id);
        const after = await dump(id);
        expect(after.closed).toBe(true);
        expect(after.events.map((e: Json) => e.id)).toEqual([a, b]);
      });

      test('security: another user’s stream is 404 on every route, like one that does not exist', async () => {
        const { id } = await createStream();
        await appendOk(id, { data: 'secret' });
        const missing = Bun.randomUUIDv7();
        for (const target of [id, missing]) {
          await expectStatus(await open(target, {}, '', stranger), 404, 'not_found');
          await expectStatus(await open(target, { accept: 'application/json' }, '', stranger), 404, 'not_found');
          await expectStatus(await open(target, { 'last-event-id': '0-0' }, '', stranger), 404, 'not_found');
          await expectStatus(await append(target, { data: 'intruder' }, stranger), 404, 'not_found');
          await expectStatus(await closeStream(target, stranger), 404, 'not_found');
          await expectStatus(
            await http(`/api/v1/streams/${target}`, { method: 'DELETE', headers: bearer(stranger.accessToken) }),
            404,
            'not_found',
          );
        }
        // Nothing the stranger did changed it.
        const intact = await dump(id);
        expect(intact.closed).toBe(false);
        expect(intact.events.map((e: Json) => e.data)).toEqual(['secret']);
      });

      test('error: append after close is 409 and adds nothing', async () => {
        const { id } = await createStream();
        await appendOk(id, { data: 1 });
        expect((await closeStream(id)).status).toBe(200);
        await expectStatus(await append(id, { data: 2 }), 409, 'conflict');
        const after = await dump(id);
        expect(after.events.map((e: Json) => e.data)).toEqual([1]);
        expect(after.closed).toBe(true);
      });

      test('error: a bad Last-Event-ID or ?after= is 422, not a silent replay', async () => {
        const { id } = await createStream();
        await appendOk(id, { data: 1 });
        await expectStatus(await open(id, { 'last-event-id': 'abc' }), 422, 'validation_error');
        await expectStatus(await open(id, {}, '?after=abc'), 422, 'validation_error');
        await expectStatus(await open(id, { 'last-event-id': '12-x' }), 422, 'validation_error');
      });

      test('security: an event name with a newline or colon is 422 (it would break the SSE framing)', async () => {
        const { id } = await createStream();
        await expectStatus(await append(id, { event: 'a\nevent: forged', data: 1 }), 422, 'validation_error');
        await expectStatus(await append(id, { event: 'a:b', data: 1 }), 422, 'validation_error');
        expect((await dump(id)).events).toEqual([]);
      });

      test('happy: DELETE answers 204, then the stream is 404 everywhere', async () => {
        const { id } = await createStream();
        await appendOk(id, { data: 'gone soon' });
        const removed = await http(`/api/v1/streams/${id}`, { method: 'DELETE', headers: bearer(owner.accessToken) });
        expect(removed.status).toBe(204);
        expect(await removed.text()).toBe('');
        await expectStatus(await open(id), 404, 'not_found');
        await expectStatus(await open(id, { accept: 'application/json' }), 404, 'not_found');
        await expectStatus(await append(id, { data: 'again' }), 404, 'not_found');
        await expectStatus(await http(`/api/v1/streams/${id}`, { method: 'DELETE', headers: bearer(owner.accessToken) }), 404, 'not_found');
      });

      test('happy: DELETE while a reader follows ends that reader', async () => {
        const { id } = await createStream();
        await appendOk(id, { data: 'x' });
        const reader = new SseReader(await open(id));
        expect((await reader.next(5000))?.data).toBe('x');
        expect((await http(`/api/v1/streams/${id}`, { method: 'DELETE', headers: bearer(owner.accessToken) })).status).toBe(204);
        expect(await reader.next(5000)).toBeUndefined();
        expect(reader.ended).toBe(true);
      });

      test('error: STREAM_MAX_EVENTS=3 refuses the 4th append with 409', async () => {
        const on = httpOf(limited);
        const user = await register(on);
        const { id } = await createStream(user, {}, on);
        for (let i = 0; i < 3; i++) await appendOk(id, { data: i }, user, on);
        await expectStatus(await append(id, { data: 3 }, user, on), 409, 'conflict');
        const body = await expectStatus(
          await on(`/api/v1/streams/${id}`, { headers: { ...bearer(user.accessToken), accept: 'application/json' } }),
          200,
        );
        expect(body.events.map((e: Json) => e.data)).toEqual([0, 1, 2]);
      });

      test('error: STREAM_MAX_BYTES refuses a too-large event and a stream past its total with 413, and a refused append does not count', async () => {
        const on = httpOf(limited);
        const user = await register(on);
        const big = await createStream(user, {}, on);
        await expectStatus(await append(big.id, { data: 'x'.repeat(1100) }, user, on), 413, 'payload_too_large');

        const total = await createStream(user, {}, on);
        await appendOk(total.id, { data: 'a'.repeat(600) }, user, on); // 602 bytes as JSON
        await expectStatus(await append(total.id, { data: 'b'.repeat(600) }, user, on), 413, 'payload_too_large');
        // The refused 602 bytes were given back: 602 + 402 = 1004 still fits.
        await appendOk(total.id, { data: 'c'.repeat(400) }, user, on);
        const body = await expectStatus(
          await on(`/api/v1/streams/${total.id}`, { headers: { ...bearer(user.accessToken), accept: 'application/json' } }),
          200,
        );
        expect(body.events.map((e: Json) => String(e.data)[0])).toEqual(['a', 'c']);
      });
    });

    describe('reply streams', () => {
      test('happy: a client that leaves after 2 deltas resumes with Last-Event-ID exactly after it, to done; the text equals the stored message', async () => {
        const user = await register(http);
        const chat = await createChat(http, user.accessToken);
        // 10 words (360 ms): the resume comes while the reply still runs.
        const content = uniqueWords(10, 'resume');
        const response = await sendMessage(http, user.accessToken, chat.id, { content });
        expect(response.status).toBe(200);
        const first = new SseReader(response);
        const start = (await first.next())!;
        expect(start.event).toBe('start');
        expect(copy(start.data)).toMatchObject({
          chatId: chat.id,
          messageId: expect.any(String),
          streamId: expect.any(String),
          provider: 'echo',
        });
        const deltas = await first.read(2);
        expect(deltas.map((e) => e.event)).toEqual(['delta', 'delta']);
        await first.cancel();
        const lastId = deltas[1]!.id;

        const resumed = new SseReader(await open(start.data.streamId, { 'last-event-id': lastId }, '', user));
        await resumed.rest(20_000);
        expect(resumed.ended).toBe(true);
        expect(resumed.events.length).toBeGreaterThan(1);
        expect(resumed.events.some((e) => e.event === 'start')).toBe(false);
        expect(resumed.events.at(-1)).toMatchObject({ event: 'done', data: { messageId: start.data.messageId, finishReason: 'stop' } });

        const allIds = [...first.ids, ...resumed.ids];
        expectIncreasing(allIds);
        // No gap: the two parts together are exactly the buffer.
        const whole = await dump(start.data.streamId, user);
        expect(whole).toMatchObject({ id: start.data.streamId, kind: 'generation', closed: true });
        expect(whole.events.map((e: Json) => e.id)).toEqual(allIds);

        const text = first.text + resumed.text;
        expect(text).toBe(content);
        const stored = await storedMessage(http, user.accessToken, chat.id, start.data.messageId);
        expect(stored).toMatchObject({ role: 'assistant', status: 'complete', content: text });
      }, 30_000);

      test('happy: a finished reply stream replays whole: start, every delta, done', async () => {
        const user = await register(http);
        const chat = await createChat(http, user.accessToken);
        const content = uniqueWords(5, 'replay');
        const live = new SseReader(await sendMessage(http, user.accessToken, chat.id, { content }));
        await live.rest(20_000);
        expect(live.ended).toBe(true);
        const streamId = live.events[0]!.data.streamId;

        const replay = new SseReader(await open(streamId, {}, '', user));
        await replay.rest(5000);
        expect(replay.ended).toBe(true);
        expect(replay.events).toEqual(live.events);
        expect(replay.events.map((e) => e.event)).toEqual(['start', 'delta', 'delta', 'delta', 'delta', 'delta', 'done']);
        expect(replay.text).toBe(content);
        // Resuming after the last event gives nothing, and ends at once.
        const after = new SseReader(await open(streamId, { 'last-event-id': live.events.at(-1)!.id }, '', user));
        await after.rest(5000);
        expect(after.ended).toBe(true);
        expect(after.events).toEqual([]);
      }, 30_000);

      test('security: a reply stream takes no appends or close, is not deletable while streaming, and is the owner’s only', async () => {
        const user = await register(http);
        const chat = await createChat(http, user.accessToken);
        // 10 words (360 ms), still streaming while the four requests below are refused.
        const reader = new SseReader(await sendMessage(http, user.accessToken, chat.id, { content: uniqueWords(10, 'owned') }));
        const start = (await reader.next())!;
        const streamId = start.data.streamId;
        await expectStatus(await append(streamId, { data: 'forged' }, user), 409, 'conflict');
        await expectStatus(await closeStream(streamId, user), 409, 'conflict');
        await expectStatus(
          await http(`/api/v1/streams/${streamId}`, { method: 'DELETE', headers: bearer(user.accessToken) }),
          409,
          'conflict',
        );
        await expectStatus(await open(streamId, {}, '', stranger), 404, 'not_found');
        await reader.rest(20_000);
        expect(reader.events.at(-1)?.event).toBe('done');
        expect(deltaText(reader.events)).not.toContain('forged');
        expect((await http(`/api/v1/streams/${streamId}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(204);
      }, 30_000);
    });

    test('happy: 20 readers that leave midway and 20 that read to the end leave no follower and no generation behind', async () => {
      const user = await register(http);
      const chat = await createChat(http, user.accessToken);
      const contents = Array.from({ length: 4 }, (_, i) => uniqueWords(14, `burst${i}`));
      // Four replies; each POST body is itself one reader.
      const posted = await Promise.all(contents.map((content) => sendMessage(http, user.accessToken, chat.id, { content })));
      const starters = posted.map((response) => new SseReader(response));
      const starts = await Promise.all(starters.map(async (reader) => (await reader.next())!));
      const streamIds = starts.map((start) => start.data.streamId as string);

      const readers: { reader: SseReader; leave: boolean; stream: number }[] = starters.map((reader, i) => ({
        reader,
        leave: i % 2 === 0,
        stream: i,
      }));
      const opened = await Promise.all(
        Array.from({ length: 36 }, async (_, i) => ({
          reader: new SseReader(await open(streamIds[i % 4]!, {}, '', user)),
          leave: i % 2 === 1,
          stream: i % 4,
        })),
      );
      readers.push(...opened);
      expect(readers.filter((r) => r.leave)).toHaveLength(20);
      expect(readers.filter((r) => !r.leave)).toHaveLength(20);
      // All 40 follow their stream at once (the replies last about 520 ms; the 40 follow within ~150 ms).
      await waitUntil(() => t.services.replies.activeReaders() >= 40, `40 followers (now ${t.services.replies.activeReaders()})`, 1000);

      await Promise.all(
        readers.map(async ({ reader, leave, stream }) => {
          if (leave) {
            await reader.untilDeltas(2);
            await reader.cancel();
            return;
          }
          await reader.rest(20_000);
          expect(reader.ended).toBe(true);
          expect(reader.events.at(-1)?.event).toBe('done');
          expect(reader.text).toBe(contents[stream]!);
        }),
      );

      await waitUntil(
        () => t.services.replies.activeReaders() === 0,
        `followers to drop to 0 (now ${t.services.replies.activeReaders()})`,
        3000,
      ).catch((error) => {
        throw new Error(`${(error as Error).message}; still following: ${t.services.replies.activeReaders()}`);
      });
      await waitUntil(() => t.services.replies.activeCount() === 0, 'generations to finish', 10_000);
      expect(t.services.replies.activeReaders()).toBe(0);
      expect(t.services.replies.activeCount()).toBe(0);
      for (const [i, start] of starts.entries()) {
        expect(await storedMessage(http, user.accessToken, chat.id, start.data.messageId)).toMatchObject({
          status: 'complete',
          content: contents[i],
        });
      }
    }, 60_000);
  });
}
