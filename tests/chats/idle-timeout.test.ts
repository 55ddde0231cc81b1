// LLM_IDLE_TIMEOUT_MS end to end, on every storage kind: an upstream that stalls after two tokens
// (the fake's `fake-stall`) ends the reply with `upstream_error` "the model provider stalled"
// within the idle timeout plus a margin (not the 5-minute total), its upstream request is aborted,
// it is not retried (text was delivered), and the partial text is stored as the `error` message
// (issue "Reliability", kind 7; the break-it run's "stalls after 3 deltas" row).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, splitWords, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { STALL_WORDS } from '../fakes/upstream-core.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  createChat,
  expectError,
  getChat,
  register,
  sendMessage,
  storedMessage,
  streamMessage,
  uniqueText,
  waitUntil,
} from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';

// Short, so each stall ends quickly, yet far above the gaps between the tokens of a reply that keeps coming.
const IDLE_MS = 150;
/** How late the error may come after the idle timeout: the engine's append, the SSE write, a loaded machine. */
const MARGIN_MS = 2000;

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

for (const [name, kind] of kinds) {
  describe(`a stalled upstream on ${name}`, () => {
    let app: TestApp;
    let account: Account;
    beforeAll(async () => {
      app = await createTestApp(
        kind,
        // Retries allowed, a long total timeout: only the idle timeout can end these replies quickly.
        llmEnv(fake, { LLM_IDLE_TIMEOUT_MS: String(IDLE_MS), LLM_MAX_RETRIES: '2', LLM_TOTAL_TIMEOUT_MS: '120000' }),
      );
      account = await register(app);
    });
    afterAll(() => app.close());

    test.each(['openai', 'anthropic'] as const)(
      'error: %s stalling after two tokens ends the SSE reply with upstream_error in time; the upstream request is aborted; the partial text is stored',
      async (provider) => {
        const chat = await createChat(app, account.accessToken, { provider, model: 'fake-stall' });
        const text = uniqueText('stall');
        const partial = splitWords(expectedReply(text, 'fake-stall')).slice(0, STALL_WORDS).join('');
        const started = performance.now();
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        const elapsed = performance.now() - started;

        expect(streamed.events[0]?.event).toBe('start');
        expect(streamed.events.at(-1)?.event).toBe('error');
        expect(streamed.events.map((e) => e.event)).not.toContain('done');
        expect(streamed.error).toEqual({ code: 'upstream_error', message: `the model provider stalled: no token for ${IDLE_MS} ms` });
        expect(streamed.text).toBe(partial);
        expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS - 50);
        expect(elapsed).toBeLessThan(IDLE_MS + MARGIN_MS);

        // One upstream call (text was delivered: no retry), and the app hung up on it.
        const calls = upstreamCalls(fake, text);
        expect(calls).toHaveLength(1);
        await waitUntil(() => calls[0]!.aborted, 'the stalled upstream request to be aborted', 2000);
        expect(calls[0]!.completed).toBe(false);

        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ role: 'assistant', status: 'error', content: partial, finishReason: 'error' });
      },
    );

    test('error: with stream:false the stall is a 502 upstream_error, and the partial text is stored', async () => {
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-stall' });
      const text = uniqueText('stall json');
      const started = performance.now();
      const response = await sendMessage(app, account.accessToken, chat.id, { content: text, stream: false });
      const body = await expectError(response, 502, 'upstream_error');
      expect(performance.now() - started).toBeLessThan(IDLE_MS + MARGIN_MS);
      expect(body.error.message).toContain('stalled');
      const { messages } = await getChat(app, account.accessToken, chat.id);
      expect(messages.at(-1)).toMatchObject({
        role: 'assistant',
        status: 'error',
        content: splitWords(expectedReply(text, 'fake-stall')).slice(0, STALL_WORDS).join(''),
      });
    });

    test('happy: a reply that keeps coming completes under the same idle timeout', async () => {
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const text = uniqueText('steady');
      const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
      expect(streamed.error).toBeUndefined();
      expect(streamed.text).toBe(expectedReply(text));
      expect(await storedMessage(app, account.accessToken, chat.id, streamed.done.messageId)).toMatchObject({ status: 'complete' });
    });
  });
}
