// A reader of a closed stream that resumes after an id with nothing after it ends at once, whatever
// the id (one past the end marker too): it does not ping until the stream's TTL runs out. Generic
// streams (GET /api/v1/streams/:id with Last-Event-ID or ?after=) and a reply replayed with its
// Idempotency-Key, on every storage kind. A stream not closed keeps waiting, as before.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createChat, expectStatus, type Http, httpOf, register, type Tokens, uniqueText } from '../helpers/client.ts';
import { compareEventIds, parseSseBlock, readSse, type SseEvent } from '../helpers/sse.ts';

/** An event id `by` ms after `id`: past every event of the stream, yet a well-formed id. */
const later = (id: string, by = 60_000) => `${BigInt(id.split('-')[0]!) + BigInt(by)}-0`;
/** The largest id there is (both parts 2^64 - 1). */
const largest = '18446744073709551615-18446744073709551615';

/** Reads the SSE response until it ends or `ms` pass; `ended` false when it was still open then. */
async function readFor(response: Response, ms: number) {
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toStartWith('text/event-stream');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + ms;
  let text = '';
  let ended = false;
  while (!ended) {
    let timer: Timer | undefined;
    const chunk = await Promise.race([
      reader.read(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(deadline - Date.now(), 0));
      }),
    ]).finally(() => clearTimeout(timer));
    if (chunk === 'timeout') break;
    if (chunk.done) ended = true;
    else text += decoder.decode(chunk.value, { stream: true });
  }
  if (!ended) await reader.cancel().catch(() => undefined);
  const events: SseEvent[] = [];
  const comments: string[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    for (const item of parseSseBlock(block)) {
      if (item.kind === 'comment') comments.push(item.text);
      else events.push(item.event);
    }
  }
  return { events, comments, ended };
}

for (const [name, kind] of kinds) {
  describe(`a closed stream read after its end, on ${name}`, () => {
    let app: TestApp;
    let http: Http;
    let user: Tokens;
    beforeAll(async () => {
      // Pings every 200 ms: a reader that waits instead of ending shows it within the test's patience.
      app = await createTestApp(kind, { RATE_LIMIT_ENABLED: 'false', ECHO_DELAY_MS: '5', SSE_PING_MS: '200' });
      http = httpOf(app);
      user = await register(http);
    });
    afterAll(() => app?.close());

    const streamWith = async (events: number, close: boolean) => {
      const { id } = await expectStatus(
        await http('/api/v1/streams', { method: 'POST', headers: bearer(user.accessToken), json: {} }),
        201,
      );
      const ids: string[] = [];
      for (let i = 0; i < events; i++) {
        const appended = await http(`/api/v1/streams/${id}/append`, {
          method: 'POST',
          headers: bearer(user.accessToken),
          json: { event: 'note', data: { i } },
        });
        ids.push((await expectStatus(appended, 202)).id);
      }
      if (close) await expectStatus(await http(`/api/v1/streams/${id}/close`, { method: 'POST', headers: bearer(user.accessToken) }), 200);
      return { id: id as string, ids };
    };
    const open = (id: string, headers: Record<string, string> = {}, query = '') =>
      http(`/api/v1/streams/${id}${query}`, { headers: { ...bearer(user.accessToken), accept: 'text/event-stream', ...headers } });

    test('happy: Last-Event-ID or ?after= past the last event of a closed stream ends at once, with nothing sent', async () => {
      const { id, ids } = await streamWith(2, true);
      const last = ids.at(-1)!;
      for (const after of [later(last, 1), later(last), largest]) {
        for (const response of [await open(id, { 'last-event-id': after }), await open(id, {}, `?after=${after}`)]) {
          const read = await readFor(response, 1500);
          expect({ after, ...read }).toEqual({ after, events: [], comments: [], ended: true });
        }
      }
    });

    test('happy: a closed stream with no events, read after any id, ends at once', async () => {
      const { id } = await streamWith(0, true);
      const read = await readFor(await open(id, { 'last-event-id': '1-0' }), 1500);
      expect(read).toEqual({ events: [], comments: [], ended: true });
      const past = await readFor(await open(id, { 'last-event-id': later(String(Date.now())) }), 1500);
      expect(past).toEqual({ events: [], comments: [], ended: true });
    });

    test('happy: after the last event itself, or before it, a closed stream gives what follows and ends', async () => {
      const { id, ids } = await streamWith(3, true);
      expect(await readFor(await open(id, { 'last-event-id': ids[2]! }), 1500)).toEqual({ events: [], comments: [], ended: true });
      const rest = await readFor(await open(id, { 'last-event-id': ids[0]! }), 1500);
      expect({ ended: rest.ended, ids: rest.events.map((event) => event.id) }).toEqual({ ended: true, ids: ids.slice(1) });
    });

    test('happy: a stream not closed, read past its last event, keeps waiting (pings), then gets what is appended', async () => {
      const { id, ids } = await streamWith(1, false);
      for (const after of [ids[0]!, later(ids[0]!), largest]) {
        const waiting = await readFor(await open(id, { 'last-event-id': after }), 700);
        expect({ after, ended: waiting.ended, events: waiting.events }).toEqual({ after, ended: false, events: [] });
        expect(waiting.comments.length).toBeGreaterThan(0);
      }
      const reading = readFor(await open(id, { 'last-event-id': ids[0]! }), 3000);
      await Bun.sleep(300);
      const appended = await http(`/api/v1/streams/${id}/append`, {
        method: 'POST',
        headers: bearer(user.accessToken),
        json: { event: 'note', data: { late: true } },
      });
      const lateId = (await expectStatus(appended, 202)).id;
      await expectStatus(await http(`/api/v1/streams/${id}/close`, { method: 'POST', headers: bearer(user.accessToken) }), 200);
      const read = await reading;
      expect({ ended: read.ended, ids: read.events.map((event) => event.id) }).toEqual({ ended: true, ids: [lateId] });
    });

    test('happy: a reply replayed with its Idempotency-Key and a Last-Event-ID past its last event ends at once', async () => {
      const chat = await createChat(http, user.accessToken);
      const path = `/api/v1/chats/${chat.id}/messages`;
      const headers = { ...bearer(user.accessToken), 'idempotency-key': `key-${crypto.randomUUID()}` };
      const json = { content: uniqueText('replayed') };
      const first = await readSse(await http(path, { method: 'POST', headers, json }));
      expect(first.ended).toBe(true);
      const last = first.events.at(-1)!;
      expect(last.event).toBe('done');
      for (const after of [last.id, later(last.id, 1), later(last.id), largest]) {
        const replay = await http(path, { method: 'POST', headers: { ...headers, 'last-event-id': after }, json });
        expect(replay.headers.get('idempotency-replayed')).toBe('true');
        const read = await readFor(replay, 1500);
        expect({ after, ...read }).toEqual({ after, events: [], comments: [], ended: true });
      }
      // Before the last event, the replay still gives the rest.
      const rest = await readFor(
        await http(path, { method: 'POST', headers: { ...headers, 'last-event-id': first.events.at(-2)!.id }, json }),
        1500,
      );
      expect({ ended: rest.ended, events: rest.events }).toEqual({ ended: true, events: [last] });
      expect(compareEventIds(first.events.at(-2)!.id, last.id)).toBeLessThan(0);
    });
  });
}
