// What a chat reply does when the upstream fails: errors end the stream with `error` and are
// stored; transient failures are retried; fallbacks answer; hangs time out; partial text is kept.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, PARTIAL_WORDS, splitWords, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createChat,
  expectError,
  readJson,
  register,
  sendJson,
  sendMessage,
  storedMessage,
  streamMessage,
  uniqueText,
  waitUntil,
} from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowFirstTokenMs: 5000 });
});
afterAll(() => fake.stop());

const names = (events: { event: string }[]) => events.map((e) => e.event);

for (const [name, kind] of kinds) {
  describe(`reply failures on ${name}`, () => {
    describe('without fallbacks', () => {
      let app: TestApp;
      beforeAll(async () => {
        app = await createTestApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '2' }));
      });
      afterAll(() => app.close());

      test('error: an upstream 400 ends the stream with an upstream_error event and stores the reply as error', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-error-400' });
        const text = uniqueText('bad');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        expect(names(streamed.events)).toEqual(['start', 'error']);
        expect(streamed.error).toEqual({ code: 'upstream_error', message: expect.any(String) });
        expect(streamed.ended).toBe(true);
        // A 400 is not retried.
        expect(upstreamCalls(fake, text)).toHaveLength(1);
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ role: 'assistant', status: 'error', content: '', finishReason: 'error' });
      });

      test('error: an upstream 400 with stream:false is 502 upstream_error', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-error-400' });
        const response = await sendMessage(app, account.accessToken, chat.id, { content: uniqueText('bad'), stream: false });
        await expectError(response, 502, 'upstream_error');
        const { messages } = await readJson(await app.request(`/api/v1/chats/${chat.id}`, { headers: bearer(account.accessToken) }));
        expect(messages.map((m: { role: string; status: string }) => `${m.role}:${m.status}`)).toEqual([
          'user:complete',
          'assistant:error',
        ]);
      });

      test('happy: one upstream 500 is retried and the reply completes', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
        const text = uniqueText('retry');
        fake.failNext(1, 500);
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        expect(names(streamed.events).at(-1)).toBe('done');
        expect(streamed.error).toBeUndefined();
        expect(streamed.text).toBe(expectedReply(text));
        expect(upstreamCalls(fake, text)).toHaveLength(2);
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.done.messageId);
        expect(stored).toMatchObject({ status: 'complete', content: expectedReply(text), provider: 'openai', model: 'gpt-4o-mini' });
      });

      test('error: a truncated upstream stream ends with error, never done, and the reply is stored as error', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-truncated' });
        const text = uniqueText('cut');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        expect(names(streamed.events)).not.toContain('done');
        expect(names(streamed.events).at(-1)).toBe('error');
        expect(streamed.error.code).toBe('upstream_error');
        expect(streamed.text).toBe(splitWords(expectedReply(text)).slice(0, PARTIAL_WORDS).join(''));
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored.status).toBe('error');
        expect(stored.content).toBe(streamed.text);
      });

      test('error: a mid-stream upstream error comes after the deltas, and the partial text is kept', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-mid-stream-error' });
        const text = uniqueText('mid');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        const partial = splitWords(expectedReply(text)).slice(0, PARTIAL_WORDS).join('');
        // Deltas that arrive in a burst may be coalesced: what counts is start, deltas, then error.
        const eventNames = names(streamed.events);
        expect(eventNames[0]).toBe('start');
        expect(eventNames.at(-1)).toBe('error');
        expect(eventNames.slice(1, -1).every((name) => name === 'delta')).toBe(true);
        expect(eventNames.length).toBeGreaterThan(2);
        expect(streamed.text).toBe(partial);
        expect(streamed.error.code).toBe('upstream_error');
        // Text already reached the client, so the request is not retried (it would repeat it).
        expect(upstreamCalls(fake, text)).toHaveLength(1);
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ status: 'error', content: partial });
      });
    });

    describe('with LLM_FALLBACKS=echo:echo', () => {
      let app: TestApp;
      beforeAll(async () => {
        app = await createTestApp(kind, llmEnv(fake, { LLM_FALLBACKS: 'echo:echo', LLM_MAX_RETRIES: '1' }));
      });
      afterAll(() => app.close());

      test('happy: a persistent 503 falls back to echo after the retries', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-error-503' });
        const text = uniqueText('fallback');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        expect(names(streamed.events).at(-1)).toBe('done');
        expect(streamed.text).toBe(text);
        expect(upstreamCalls(fake, text)).toHaveLength(2);
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.done.messageId);
        expect(stored).toMatchObject({ status: 'complete', content: text, provider: 'echo', model: 'echo' });

        const other = uniqueText('fallback json');
        const sent = await sendJson(app, account.accessToken, chat.id, { content: other });
        expect(sent.assistantMessage).toMatchObject({ status: 'complete', content: other, provider: 'echo', model: 'echo' });
      });
    });

    describe('with a 300 ms first-token timeout and no retries', () => {
      let app: TestApp;
      beforeAll(async () => {
        app = await createTestApp(kind, llmEnv(fake, { LLM_FIRST_TOKEN_TIMEOUT_MS: '300', LLM_MAX_RETRIES: '0' }));
      });
      afterAll(() => app.close());

      test('error: an upstream that never sends a first token fails fast and its request is aborted', async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-slow-first-token' });
        const text = uniqueText('slow');
        const started = Date.now();
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        const elapsed = Date.now() - started;
        expect(names(streamed.events)).toEqual(['start', 'error']);
        expect(streamed.error.code).toBe('upstream_error');
        expect(elapsed).toBeGreaterThanOrEqual(250);
        expect(elapsed).toBeLessThan(3000);
        const [call] = upstreamCalls(fake, text);
        expect(call).toBeDefined();
        await waitUntil(() => call!.aborted, 'the upstream request to be aborted', 1000);
        expect(call!.completed).toBe(false);
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored.status).toBe('error');
      });
    });
  });
}
