// Stopping replies: cancel stops the upstream at once and keeps the text so far; a client that
// leaves stops nothing; regenerate answers the same turn again; a crash leaves `interrupted`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createChat,
  expectError,
  getChat,
  readJson,
  register,
  sendJson,
  sendMessage,
  storedMessage,
  uniqueText,
  waitUntil,
  withNamedEvents,
} from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { readSse, SseReader } from '../helpers/sse.ts';

let slowFake: FakeUpstream;
let quickFake: FakeUpstream;
beforeAll(async () => {
  // fake-slow sends its ~55 words 50 ms apart on slowFake (2.7 s in all: a cancel lands mid-reply),
  // 8 ms apart on quickFake (under half a second: a reply that is left is read to its end quickly).
  [slowFake, quickFake] = await Promise.all([startFakeUpstream({ slowChunkMs: 50 }), startFakeUpstream({ slowChunkMs: 8 })]);
});
afterAll(() => Promise.all([slowFake.stop(), quickFake.stop()]));

const cancel = (app: TestApp, token: string, chatId: string, messageId: string) =>
  app.request(`/api/v1/chats/${chatId}/messages/${messageId}/cancel`, { method: 'POST', headers: bearer(token) });

for (const [name, kind] of kinds) {
  describe(`cancel, disconnect and regenerate on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(slowFake));
    });
    afterAll(() => app.close());

    test('happy: cancel stops the upstream at once, ends the stream with done cancelled and keeps the partial text', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-slow' });
      const text = uniqueText('cancel me');
      const response = await sendMessage(app, account.accessToken, chat.id, { content: text });
      expect(response.status).toBe(200);
      const reader = new SseReader(response);
      const start = (await reader.next())!;
      expect(start.event).toBe('start');
      for (let i = 0; i < 3; i++) expect((await reader.next())?.event).toBe('delta');

      const accepted = await cancel(app, account.accessToken, chat.id, start.data.messageId);
      const cancelledAt = Date.now();
      expect(accepted.status).toBe(202);
      expect(await readJson(accepted)).toEqual({ messageId: start.data.messageId, cancelling: true });
      const [call] = upstreamCalls(slowFake, text);
      await waitUntil(() => call?.aborted, 'the upstream request to be aborted', 300);
      expect(Date.now() - cancelledAt).toBeLessThan(300);
      expect(call!.completed).toBe(false);

      const last = await reader.until((event) => event.event === 'done' || event.event === 'error');
      expect(last).toEqual({
        id: expect.any(String),
        event: 'done',
        data: { messageId: start.data.messageId, finishReason: 'cancelled', usage: expect.any(Object) },
      });
      expect(await reader.next()).toBeUndefined();
      expect(reader.ended).toBe(true);

      const full = expectedReply(text, 'fake-slow');
      expect(reader.text.length).toBeGreaterThan(0);
      expect(reader.text.length).toBeLessThan(full.length);
      expect(full.startsWith(reader.text)).toBe(true);
      const stored = await storedMessage(app, account.accessToken, chat.id, start.data.messageId);
      expect(stored).toMatchObject({ status: 'cancelled', finishReason: 'cancelled', content: reader.text });
    });

    test('error: cancelling a reply that is not being generated is 409', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'echo' });
      const sent = await sendJson(app, account.accessToken, chat.id, { content: uniqueText('done already') });
      await expectError(await cancel(app, account.accessToken, chat.id, sent.assistantMessage.id), 409, 'conflict');
      await expectError(await cancel(app, account.accessToken, chat.id, sent.userMessage.id), 409, 'conflict');
      await expectError(await cancel(app, account.accessToken, chat.id, Bun.randomUUIDv7()), 404, 'not_found');
      expect(await storedMessage(app, account.accessToken, chat.id, sent.assistantMessage.id)).toMatchObject({ status: 'complete' });
    });

    test('error: cancelling twice: the second cancel of the cancelled reply is 409', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-slow' });
      const response = await sendMessage(app, account.accessToken, chat.id, { content: uniqueText('twice') });
      const reader = new SseReader(response);
      const start = (await reader.next())!;
      await reader.next();
      expect((await cancel(app, account.accessToken, chat.id, start.data.messageId)).status).toBe(202);
      expect((await reader.until((event) => event.event === 'done'))?.data.finishReason).toBe('cancelled');
      await expectError(await cancel(app, account.accessToken, chat.id, start.data.messageId), 409, 'conflict');
    });

    test('happy: regenerate answers the same user turn with a new assistant message', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const text = uniqueText('again please');
      const first = await sendJson(app, account.accessToken, chat.id, { content: text });
      const response = await app.request(`/api/v1/chats/${chat.id}/messages/${first.assistantMessage.id}/regenerate`, {
        method: 'POST',
        headers: bearer(account.accessToken),
      });
      expect(response.status).toBe(200);
      const streamed = withNamedEvents(response, await readSse(response));
      expect(streamed.start).toMatchObject({
        chatId: chat.id,
        userMessageId: first.userMessage.id,
        provider: 'openai',
        model: 'gpt-4o-mini',
      });
      expect(streamed.start.messageId).not.toBe(first.assistantMessage.id);
      expect(streamed.done.messageId).toBe(streamed.start.messageId);
      expect(streamed.text).toBe(expectedReply(text));

      const calls = upstreamCalls(slowFake, text);
      expect(calls).toHaveLength(2);
      // The turn is answered afresh: the old reply is not sent back as history.
      expect((calls[1]!.body as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: text }]);

      // The new reply takes the old one's place on the path; the old one is its sibling.
      const stored = await getChat(app, account.accessToken, chat.id);
      expect(stored.messages.map((m: { id: string }) => m.id)).toEqual([first.userMessage.id, streamed.start.messageId]);
      expect(stored.messages[1]).toMatchObject({
        role: 'assistant',
        status: 'complete',
        content: expectedReply(text),
        parentId: first.userMessage.id,
        siblingCount: 2,
        siblingIndex: 1,
      });

      const again = await app.request(`/api/v1/chats/${chat.id}/messages/${first.userMessage.id}/regenerate`, {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { stream: false, provider: 'echo' },
      });
      expect(again.status).toBe(200);
      const json = await readJson(again);
      expect(json.userMessage).toBeNull();
      expect(json.assistantMessage).toMatchObject({ role: 'assistant', status: 'complete', content: text, provider: 'echo' });
      expect([first.assistantMessage.id, streamed.start.messageId]).not.toContain(json.assistantMessage.id);
    });

    test('happy: recoverInterrupted marks a reply left streaming with no live generation as interrupted', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'echo' });
      const id = Bun.randomUUIDv7();
      const { db } = app.infra;
      await db.run((q) =>
        q
          .insert(db.tables.messages)
          .values({ id, chatId: chat.id, role: 'assistant', content: 'half a rep', status: 'streaming', provider: 'echo', model: 'echo' }),
      );
      expect(await storedMessage(app, account.accessToken, chat.id, id)).toMatchObject({ status: 'streaming' });
      expect(await app.services.replies.recoverInterrupted()).toBeGreaterThanOrEqual(1);
      expect(await storedMessage(app, account.accessToken, chat.id, id)).toMatchObject({ status: 'interrupted', content: 'half a rep' });
      // Nothing is left to cancel.
      await expectError(await cancel(app, account.accessToken, chat.id, id), 409, 'conflict');
    });

    describe('a client that leaves', () => {
      let quickApp: TestApp;
      beforeAll(async () => {
        quickApp = await createTestApp(kind, llmEnv(quickFake));
      });
      afterAll(() => quickApp.close());

      test('happy: the reply is still completed and stored, and the upstream is not aborted', async () => {
        const account = await register(quickApp);
        const chat = await createChat(quickApp, account.accessToken, { provider: 'openai', model: 'fake-slow' });
        const text = uniqueText('leaving');
        const response = await sendMessage(quickApp, account.accessToken, chat.id, { content: text });
        const partial = await readSse(response, { stopAfter: 2 });
        expect(partial.events.map((e) => e.event)).toEqual(['start', 'delta']);
        expect(partial.ended).toBe(false);
        const messageId = partial.events[0]!.data.messageId;
        // The client left while the upstream was still sending.
        expect(upstreamCalls(quickFake, text)[0]?.completed).toBe(false);

        const full = expectedReply(text, 'fake-slow');
        const stored = await waitUntil(
          async () => {
            const message = await storedMessage(quickApp, account.accessToken, chat.id, messageId);
            return message.status !== 'streaming' && message;
          },
          'the reply to finish',
          10_000,
        );
        expect(stored).toMatchObject({ status: 'complete', content: full, finishReason: 'stop' });
        const [call] = upstreamCalls(quickFake, text);
        expect(call).toMatchObject({ aborted: false, completed: true });
      });
    });
  });
}
