// "Every reply settles, and whole" (break-it run F2 and F14), through the public API on every
// storage kind: a reply holding U+0000, one over 1 MB (past Postgres's tsvector limit) and one
// with lone surrogates each end with `done`, are stored `complete` with exactly the concatenated
// deltas (one normalisation before both: NUL and lone surrogates become U+FFFD), are searchable,
// and `stream: false` answers the stored message. A final write the database refuses ends the
// stream with `error`, never `done`, and the message is not left `streaming`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { expectedReply, HUGE_REPLY_WORDS } from '../fakes/upstream-core.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createChat,
  expectError,
  expectStatus,
  register,
  sendJson,
  sendMessage,
  storedMessage,
  streamMessage,
  uniqueText,
} from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';
import type { SseEvent } from '../helpers/sse.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const names = (events: SseEvent[]) => events.map((e) => e.event);
const hasLoneSurrogate = (text: string) => !text.isWellFormed();
/** What the reply should read once normalised: NUL and lone surrogates as U+FFFD. */
const normalised = (text: string) => text.toWellFormed().replaceAll('\u0000', '\ufffd');

/** A trigger that refuses to finish a reply whose text holds `marker` as `complete` (flushes and other statuses pass). */
async function refuseCompleteWith(app: TestApp, marker: string): Promise<() => Promise<void>> {
  const statements =
    app.infra.db.kind === 'sqlite'
      ? [
          `CREATE TRIGGER refuse_final_write BEFORE UPDATE ON messages WHEN NEW.status = 'complete' AND NEW.content LIKE '%${marker}%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
        ]
      : [
          `CREATE FUNCTION refuse_final_write() RETURNS trigger AS $$ BEGIN IF NEW.status = 'complete' AND NEW.content LIKE '%${marker}%' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
          'CREATE TRIGGER refuse_final_write BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION refuse_final_write()',
        ];
  for (const statement of statements) await app.infra.db.raw(sql.raw(statement));
  return async () => {
    await app.infra.db.raw(
      sql.raw(app.infra.db.kind === 'sqlite' ? 'DROP TRIGGER refuse_final_write' : 'DROP TRIGGER refuse_final_write ON messages'),
    );
    if (app.infra.db.kind !== 'sqlite') await app.infra.db.raw(sql.raw('DROP FUNCTION refuse_final_write()'));
  };
}

for (const [name, kind] of kinds) {
  describe(`replies are stored whole on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    /** Streams one reply of `model` and checks the F2/F14 contract; returns the stream and what was stored. */
    const streamAndCheck = async (model: string) => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model });
      const question = uniqueText(model);
      const streamed = await streamMessage(app, account.accessToken, chat.id, { content: question });
      expect(streamed.error).toBeUndefined();
      expect(names(streamed.events).at(-1)).toBe('done');
      expect(streamed.done).toMatchObject({ messageId: streamed.start.messageId, finishReason: 'stop' });
      const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
      expect(stored.status).toBe('complete');
      // The concatenated deltas are the stored text, character for character.
      expect(stored.content.length).toBe(streamed.text.length);
      expect(stored.content === streamed.text).toBe(true);
      expect(streamed.text === normalised(expectedReply(question, model))).toBe(true);
      return { account, chat, question, streamed, stored };
    };

    test('happy: a reply holding U+0000 ends with done and is stored complete, the NUL as U+FFFD in the deltas and the row alike', async () => {
      const { streamed } = await streamAndCheck('fake-nul');
      expect(streamed.text).not.toContain('\u0000');
      expect(streamed.text).toContain('nul\ufffdhere and \ufffd\ufffd twice');
      for (const event of streamed.events) expect(JSON.stringify(event.data)).not.toContain('\\u0000');
    });

    test('happy: lone surrogates reach neither the stream nor the row: both hold U+FFFD, and a pair split between two chunks stays one emoji (F14)', async () => {
      const { streamed } = await streamAndCheck('fake-lone-surrogate');
      expect(streamed.text).toEndWith('lone \ufffd surrogate, split \u{1f600} pair, dangling \ufffd then \ufffd low, last \ufffd');
      for (const event of streamed.events.filter((e) => e.event === 'delta')) expect(hasLoneSurrogate(event.data.text)).toBe(false);
    });

    test('happy: a reply over 1 MB (past the tsvector limit) ends with done, is stored whole and complete, and is searchable', async () => {
      const { account, chat, streamed, stored } = await streamAndCheck('fake-huge');
      expect(stored.content.length).toBeGreaterThan(1_000_000);
      expect(stored.content).toEndWith(` w${HUGE_REPLY_WORDS}`);
      // A word of the reply near its start (search sees the first 100,000 characters on Postgres).
      const found = await expectStatus(await app.request('/api/v1/chats/search?q=w4321', { headers: bearer(account.accessToken) }), 200);
      expect(found.data.map((hit: { chat: { id: string } }) => hit.chat.id)).toEqual([chat.id]);
      expect(found.data[0].matches.map((match: { messageId: string }) => match.messageId)).toContain(streamed.start.messageId);
    }, 60_000);

    test('happy: stream:false answers the stored message, complete and whole, for a reply with U+0000 and for one over 1 MB', async () => {
      for (const model of ['fake-nul', 'fake-huge']) {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model });
        const question = uniqueText('json');
        const sent = await sendJson(app, account.accessToken, chat.id, { content: question });
        const expected = normalised(expectedReply(question, model));
        expect(sent.assistantMessage.status).toBe('complete');
        expect(sent.assistantMessage.content === expected).toBe(true);
        const stored = await storedMessage(app, account.accessToken, chat.id, sent.assistantMessage.id);
        expect({ status: stored.status, length: stored.content.length }).toEqual({ status: 'complete', length: expected.length });
      }
    }, 60_000);

    test('error: a final write the database refuses ends the stream with error (not done); the message is stored error with the deltas, never left streaming', async () => {
      const marker = `refusewrite${Date.now()}`;
      const restore = await refuseCompleteWith(app, marker);
      try {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: `please ${marker} now` });
        expect(names(streamed.events)).not.toContain('done');
        expect(names(streamed.events).at(-1)).toBe('error');
        expect(streamed.error).toEqual({ code: 'internal_error', message: 'The reply could not be stored' });
        expect(streamed.text).toBe(expectedReply(`please ${marker} now`));
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ status: 'error', finishReason: 'error', content: streamed.text });

        // stream:false: the same failure is an error answer, never 200 with a `streaming` message.
        const response = await sendMessage(app, account.accessToken, chat.id, { content: `again ${marker}`, stream: false });
        await expectError(response, 500, 'internal_error');
        const messages = (await expectStatus(await app.request(`/api/v1/chats/${chat.id}`, { headers: bearer(account.accessToken) }), 200))
          .messages as { role: string; status: string }[];
        expect(messages.filter((m) => m.role === 'assistant').map((m) => m.status)).toEqual(['error', 'error']);
        expect(messages.some((m) => m.status === 'streaming')).toBe(false);
      } finally {
        await restore();
      }
      // Once the database takes it again, replies are stored as before.
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const sent = await sendJson(app, account.accessToken, chat.id, { content: `fine ${marker}` });
      expect(sent.assistantMessage).toMatchObject({ status: 'complete', content: expectedReply(`fine ${marker}`) });
    });
  });
}
