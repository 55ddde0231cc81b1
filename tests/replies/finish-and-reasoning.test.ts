// "An upstream that finishes differently is still finished", through the public API on every
// storage kind: a stream that reaches its terminal marker (`[DONE]`, `message_stop`) with no
// finish reason is a complete reply (bug report case #5); one cut before it is still an error;
// and a model's thinking streams as `reasoning` events, is stored apart from the reply, never
// goes back upstream, and keeps a reply alive past the first-token timeout while it comes.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import {
  expectedReasoning,
  expectedReply,
  type FakeUpstream,
  PARTIAL_WORDS,
  type RecordedRequest,
  splitWords,
  startFakeUpstream,
} from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createApiKey,
  createChat,
  expectError,
  httpOf,
  type Json,
  readJson,
  register,
  sendJson,
  sendMessage,
  storedMessage,
  streamMessage,
  uniqueText,
  waitUntil,
} from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls } from '../helpers/llm.ts';
import { deltaText, type SseEvent, SseReader } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';

// The fake's pause between two chunks of slow thinking, and a first-token timeout between one
// pause and the whole thinking (fake-slow-reasoning thinks in five chunks, SLOW_CHUNK_MS apart).
const SLOW_CHUNK_MS = 50;
const FIRST_TOKEN_TIMEOUT_MS = 150;

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowChunkMs: SLOW_CHUNK_MS });
});
afterAll(() => fake.stop());

type Provider = 'openai' | 'anthropic' | 'ollama';
const markerOf = (provider: Provider) => (provider === 'anthropic' ? 'message_stop' : '[DONE]');
/** A normal model of each provider, for turns that only need to show what was sent upstream. */
const plainModel: Record<Provider, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5', ollama: 'llama3' };
/** The thinking scenario of each provider: `reasoning_content` (OpenAI), `reasoning` (Ollama's /v1), thinking blocks. */
const reasoningModel: Record<Provider, string> = { openai: 'fake-reasoning', anthropic: 'fake-reasoning', ollama: 'fake-reasoning-field' };
const PROVIDERS: Provider[] = ['openai', 'anthropic', 'ollama'];
const NO_FINISH = [
  { label: 'finish reason null on every chunk', model: 'fake-no-finish-reason' },
  { label: 'finish reason "" on every chunk', model: 'fake-empty-finish-reason' },
] as const;

const names = (events: SseEvent[]) => events.map((e) => e.event);
const reasoningText = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'reasoning')
    .map((e) => String(e.data.text))
    .join('');
/** The turns of an upstream request as `role:text`. */
const turnsOf = (fakeRequest: RecordedRequest | undefined) => {
  if (!fakeRequest) throw new Error('no such upstream request');
  return (bodyOf(fakeRequest).messages ?? []).map((m) => `${m.role}:${textOfContent(m.content)}`);
};

for (const [name, kind] of kinds) {
  describe(`how an upstream stream ends, on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    for (const provider of PROVIDERS) {
      for (const { label, model } of NO_FINISH) {
        test(`happy: ${provider}, ${label}, then ${markerOf(provider)}: the stream ends with done and the reply is stored complete`, async () => {
          const account = await register(app);
          const chat = await createChat(app, account.accessToken, { provider, model });
          const streamed = await streamMessage(app, account.accessToken, chat.id, { content: uniqueText('question') });
          expect(streamed.error).toBeUndefined();
          expect(names(streamed.events)[0]).toBe('start');
          expect(names(streamed.events).at(-1)).toBe('done');
          expect(
            names(streamed.events)
              .slice(1, -1)
              .every((n) => n === 'delta'),
          ).toBe(true);
          expect(streamed.text).toBe('the whole answer');
          expect(streamed.done).toMatchObject({ messageId: streamed.start.messageId, finishReason: 'stop' });
          expect(streamed.done.usage.outputTokens).toBeGreaterThan(0);

          const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
          expect(stored).toMatchObject({ status: 'complete', content: 'the whole answer', finishReason: 'stop', reasoning: null });
          // The case's own check: the second message of the chat.
          const list = await readJson(await app.request(`/api/v1/chats/${chat.id}/messages`, { headers: bearer(account.accessToken) }));
          expect({ status: list.data[1].status, content: list.data[1].content }).toEqual({
            status: 'complete',
            content: 'the whole answer',
          });
        });

        test(`happy: ${provider}, ${label}: stream:false answers 200 and the next turn sends the whole answer upstream`, async () => {
          const account = await register(app);
          const chat = await createChat(app, account.accessToken, { provider, model });
          const first = uniqueText('question');
          const sent = await sendJson(app, account.accessToken, chat.id, { content: first });
          expect(sent.assistantMessage).toMatchObject({ status: 'complete', content: 'the whole answer', finishReason: 'stop' });

          const followUp = uniqueText('follow up');
          const next = await sendJson(app, account.accessToken, chat.id, { content: followUp, model: plainModel[provider] });
          expect(next.assistantMessage).toMatchObject({ status: 'complete', content: expectedReply(followUp) });
          const [call] = upstreamCalls(fake, followUp);
          expect(turnsOf(call)).toEqual([`user:${first}`, 'assistant:the whole answer', `user:${followUp}`]);
        });
      }

      test(`error: ${provider}, a connection cut before ${markerOf(provider)} still ends in error, stored as error`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model: 'fake-cut' });
        const text = uniqueText('cut');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        const partial = splitWords(expectedReply(text)).slice(0, PARTIAL_WORDS).join('');
        expect(names(streamed.events)).not.toContain('done');
        expect(names(streamed.events).at(-1)).toBe('error');
        expect(streamed.error).toEqual({ code: 'upstream_error', message: 'upstream stream ended before it finished' });
        expect(streamed.text).toBe(partial);
        // Text already reached the client: no retry (it would repeat it).
        expect(upstreamCalls(fake, text)).toHaveLength(1);
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ status: 'error', content: partial, finishReason: 'error' });

        const response = await sendMessage(app, account.accessToken, chat.id, { content: uniqueText('cut json'), stream: false });
        await expectError(response, 502, 'upstream_error');
      });

      test(`error: ${provider}, a body that ends cleanly without ${markerOf(provider)} or a finish reason is an error too`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model: 'fake-truncated' });
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: uniqueText('truncated') });
        expect(names(streamed.events)).not.toContain('done');
        expect(streamed.error).toEqual({ code: 'upstream_error', message: 'upstream stream ended before it finished' });
        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored.status).toBe('error');
      });
    }
  });

  describe(`a model's thinking, on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    for (const provider of PROVIDERS) {
      test(`happy: ${provider} thinking streams as reasoning events before the reply, stored apart, never sent back upstream`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model: reasoningModel[provider] });
        const text = uniqueText('think');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
        expect(streamed.error).toBeUndefined();
        const order = names(streamed.events);
        expect(order[0]).toBe('start');
        expect(order.at(-1)).toBe('done');
        expect(order.lastIndexOf('reasoning')).toBeLessThan(order.indexOf('delta'));
        expect(order.slice(1, -1).every((n) => n === 'reasoning' || n === 'delta')).toBe(true);
        expect(reasoningText(streamed.events)).toBe(expectedReasoning(text));
        for (const event of streamed.events.filter((e) => e.event === 'reasoning')) expect(Object.keys(event.data)).toEqual(['text']);
        // The deltas are the reply and nothing else.
        expect(streamed.text).toBe(expectedReply(text));
        expect(deltaText(streamed.events)).not.toContain('Thinking about');

        const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
        expect(stored).toMatchObject({ status: 'complete', content: expectedReply(text), reasoning: expectedReasoning(text) });
        const list = await readJson(await app.request(`/api/v1/chats/${chat.id}/messages`, { headers: bearer(account.accessToken) }));
        expect(list.data.map((m: Json) => `${m.role}:${m.reasoning}`)).toEqual(['user:null', `assistant:${expectedReasoning(text)}`]);

        // The next turn's history carries the reply's content only.
        const followUp = uniqueText('next');
        await sendJson(app, account.accessToken, chat.id, { content: followUp, model: plainModel[provider] });
        const [call] = upstreamCalls(fake, followUp);
        expect(turnsOf(call)).toEqual([`user:${text}`, `assistant:${expectedReply(text)}`, `user:${followUp}`]);
        expect(JSON.stringify(call?.body)).not.toContain('Thinking about');
      });
    }

    test('happy: stream:false returns the reasoning beside the content', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-reasoning' });
      const text = uniqueText('think json');
      const sent = await sendJson(app, account.accessToken, chat.id, { content: text });
      expect(sent.assistantMessage).toMatchObject({ status: 'complete', content: expectedReply(text), reasoning: expectedReasoning(text) });
      expect(sent.userMessage.reasoning).toBeNull();
    });

    test('happy: a reply without thinking has reasoning null', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const streamed = await streamMessage(app, account.accessToken, chat.id, { content: uniqueText('plain') });
      expect(names(streamed.events)).not.toContain('reasoning');
      const stored = await storedMessage(app, account.accessToken, chat.id, streamed.start.messageId);
      expect(stored.reasoning).toBeNull();
    });

    test('happy: /v1/chat/completions streams the thinking as delta.reasoning_content, and returns it as message.reasoning_content', async () => {
      const account = await register(app);
      const key = await createApiKey(app, account.accessToken, { name: 'compat' });
      const text = uniqueText('compat think');
      const request = (stream: boolean) =>
        httpOf(app)('/v1/chat/completions', {
          method: 'POST',
          headers: bearer(key.key),
          json: { model: 'openai/fake-reasoning', messages: [{ role: 'user', content: text }], stream },
        });

      const response = await request(true);
      expect(response.status).toBe(200);
      const lines = (await response.text()).split('\n').filter((line) => line.startsWith('data: '));
      expect(lines.at(-1)).toBe('data: [DONE]');
      const chunks = lines.slice(0, -1).map((line) => JSON.parse(line.slice(6)));
      const deltas = chunks.map((c) => c.choices[0]?.delta ?? {});
      const thinking = deltas.filter((d) => 'reasoning_content' in d);
      expect(thinking.map((d) => d.reasoning_content).join('')).toBe(expectedReasoning(text));
      expect(thinking.every((d) => d.content === undefined)).toBe(true);
      expect(deltas.map((d) => d.content ?? '').join('')).toBe(expectedReply(text));
      expect(deltas.findLastIndex((d) => 'reasoning_content' in d)).toBeLessThan(deltas.findIndex((d) => d.content));
      expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');

      const completion = await readJson(await request(false));
      expect(completion.choices[0].message).toEqual({
        role: 'assistant',
        content: expectedReply(text),
        refusal: null,
        reasoning_content: expectedReasoning(text),
      });
    });

    test('happy: /v1/chat/completions answers an upstream with no finish reason before [DONE] with finish_reason "stop"', async () => {
      const account = await register(app);
      const key = await createApiKey(app, account.accessToken, { name: 'compat' });
      const response = await httpOf(app)('/v1/chat/completions', {
        method: 'POST',
        headers: bearer(key.key),
        json: { model: 'openai/fake-no-finish-reason', messages: [{ role: 'user', content: uniqueText('compat') }] },
      });
      const completion = await readJson(response);
      expect(response.status).toBe(200);
      expect(completion.choices[0]).toMatchObject({ message: { content: 'the whole answer' }, finish_reason: 'stop' });
      expect(completion.choices[0].message.reasoning_content).toBeUndefined();
    });

    test('happy: websocket clients get the thinking as {type:"reasoning", text} frames', async () => {
      const listening = app.app.listen({ port: 0, hostname: '127.0.0.1' });
      const server = listening.server!;
      try {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-reasoning' });
        const socket = await WsClient.ready(`ws://127.0.0.1:${server.port}/api/v1/ws`, account.accessToken);
        const text = uniqueText('ws think');
        socket.send({ type: 'chat.send', chatId: chat.id, content: text });
        await socket.waitFor((frame) => frame.type === 'done', 'done');
        const frames = socket.frames.filter((frame) => ['start', 'reasoning', 'delta', 'done', 'error'].includes(frame.type));
        const reasoning = frames.filter((frame) => frame.type === 'reasoning');
        expect(reasoning.length).toBeGreaterThan(0);
        for (const frame of reasoning) expect(Object.keys(frame).sort()).toEqual(['text', 'type']);
        expect(reasoning.map((frame) => frame.text).join('')).toBe(expectedReasoning(text));
        const deltas = frames.filter((frame) => frame.type === 'delta').map((frame) => frame.text);
        expect(deltas.join('')).toBe(expectedReply(text));
        expect(frames.findLastIndex((frame) => frame.type === 'reasoning')).toBeLessThan(
          frames.findIndex((frame) => frame.type === 'delta'),
        );
        socket.ws.close();
        await socket.closed;
      } finally {
        await server.stop(true);
      }
    });
  });

  describe(`slow thinking and LLM_FIRST_TOKEN_TIMEOUT_MS=${FIRST_TOKEN_TIMEOUT_MS}, on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(
        kind,
        llmEnv(fake, { LLM_FIRST_TOKEN_TIMEOUT_MS: String(FIRST_TOKEN_TIMEOUT_MS), LLM_MAX_RETRIES: '0', REPLY_FLUSH_MS: '30' }),
      );
    });
    afterAll(() => app.close());

    for (const provider of PROVIDERS) {
      test(`happy: ${provider} thinking longer than the first-token timeout does not fail the reply while reasoning keeps arriving`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model: 'fake-slow-reasoning' });
        const text = uniqueText('slow think');
        const thinkingMs = splitWords(expectedReasoning(text)).length * SLOW_CHUNK_MS;
        expect(thinkingMs).toBeGreaterThan(FIRST_TOKEN_TIMEOUT_MS);

        const started = Date.now();
        const reader = new SseReader(await sendMessage(app, account.accessToken, chat.id, { content: text }));
        const start = await reader.next();
        expect(start?.event).toBe('start');
        const first = await reader.next();
        expect(first?.event).toBe('reasoning');
        // While it thinks, the thinking so far is flushed to the message, apart from its (empty) content.
        const midway = await waitUntil(async () => {
          const message = await storedMessage(app, account.accessToken, chat.id, start!.data.messageId);
          return message.reasoning ? message : undefined;
        }, 'the reasoning to be flushed');
        expect(midway.status).toBe('streaming');
        expect(midway.content).toBe('');
        expect(expectedReasoning(text).startsWith(midway.reasoning!)).toBe(true);

        const events = await reader.rest();
        expect(Date.now() - started).toBeGreaterThan(FIRST_TOKEN_TIMEOUT_MS);
        expect(names(events).at(-1)).toBe('done');
        expect(events.find((e) => e.event === 'error')).toBeUndefined();
        expect(reasoningText(events)).toBe(expectedReasoning(text));
        expect(deltaText(events)).toBe(expectedReply(text));
        const stored = await storedMessage(app, account.accessToken, chat.id, start!.data.messageId);
        expect(stored).toMatchObject({ status: 'complete', content: expectedReply(text), reasoning: expectedReasoning(text) });
      });
    }

    test('error: an upstream silent past the first-token timeout, thinking nothing, still fails', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'fake-slow-first-token' });
      const streamed = await streamMessage(app, account.accessToken, chat.id, { content: uniqueText('silent') });
      expect(names(streamed.events)).toEqual(['start', 'error']);
      expect(streamed.error.message).toContain(`no first token within ${FIRST_TOKEN_TIMEOUT_MS} ms`);
    });
  });
}
