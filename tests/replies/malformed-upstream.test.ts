// A chaos upstream that sends a frame which is not JSON, mid-stream (a broken proxy or server):
// the reply ends with an `error` event after the deltas it had, is stored as `error` with exactly
// that text, and `stream: false` answers 502; never a 500, never `done`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, PARTIAL_WORDS, splitWords, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { createChat, expectError, getChat, register, sendMessage, storedMessage, streamMessage, uniqueText } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

for (const [name, kind] of kinds) {
  describe(`a malformed upstream frame on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      // No retries: a retry would only show the same broken frame again.
      app = await createTestApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '0' }));
    });
    afterAll(() => app.close());

    for (const provider of ['openai', 'anthropic'] as const) {
      test(`error: ${provider}: the stream ends with error after the deltas it had, stored as error with exactly that text`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model: 'fake-malformed' });
        const text = uniqueText('broken');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        const events = streamed.events.map((event) => event.event);
        expect(events[0]).toBe('start');
        expect(events).not.toContain('done');
        expect(events.at(-1)).toBe('error');
        expect(streamed.error.code).toBe('upstream_error');
        expect(streamed.text).toBe(splitWords(expectedReply(text)).slice(0, PARTIAL_WORDS).join(''));
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ status: 'error', content: streamed.text });
        expect(upstreamCalls(fake, text)).toHaveLength(1);
      });

      test(`error: ${provider}: with stream:false it is 502 upstream_error, and nothing is left streaming`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model: 'fake-malformed' });
        await expectError(
          await sendMessage(app, account.accessToken, chat.id, { content: uniqueText('broken'), stream: false }),
          502,
          'upstream_error',
        );
        const { messages } = await getChat(app, account.accessToken, chat.id);
        expect(messages.map((m) => `${m.role}:${m.status}`)).toEqual(['user:complete', 'assistant:error']);
      });
    }
  });
}
