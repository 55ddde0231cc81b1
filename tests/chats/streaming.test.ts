// Replies to chat messages, streamed as SSE and as JSON, through every provider (the remote ones
// against the fake upstream), on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createChat, getChat, readJson, register, sendJson, streamMessage, uniqueText } from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls, wordCount } from '../helpers/llm.ts';
import { compareEventIds, parseSseBlock, readSse } from '../helpers/sse.ts';

type ProviderCase = { provider: 'echo' | 'openai' | 'anthropic' | 'ollama'; model: string; reply: (text: string) => string };
const providers: ProviderCase[] = [
  { provider: 'echo', model: 'echo', reply: (text) => text },
  { provider: 'openai', model: 'gpt-4o-mini', reply: (text) => expectedReply(text) },
  { provider: 'anthropic', model: 'claude-haiku-4-5', reply: (text) => expectedReply(text) },
  { provider: 'ollama', model: 'llama3', reply: (text) => expectedReply(text) },
];

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

test('happy: the SSE helper parses events, multi-line data and comment lines', async () => {
  const body = 'id: 1-0\nevent: start\ndata: {"a":1}\n\n: ping\n\nid: 1-1\nevent: delta\ndata: {"text":\ndata: "hi"}\n\n';
  const transcript = await readSse(new Response(body, { headers: { 'content-type': 'text/event-stream' } }));
  expect(transcript.events).toEqual([
    { id: '1-0', event: 'start', data: { a: 1 } },
    { id: '1-1', event: 'delta', data: { text: 'hi' } },
  ]);
  expect(transcript.comments).toEqual(['ping']);
  expect(transcript.text).toBe('hi');
  expect(transcript.ended).toBe(true);
  expect(() => parseSseBlock('event: delta\ndata: not json')).toThrow();
  expect(compareEventIds('9-5', '10-0')).toBeLessThan(0);
  expect(compareEventIds('10-2', '10-1')).toBeGreaterThan(0);
});

for (const [name, kind] of kinds) {
  describe(`chat replies on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    for (const { provider, model, reply } of providers) {
      test(`happy: ${provider} streams start, deltas and done, and the deltas are the stored reply`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model });
        const text = uniqueText('stream');
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });

        expect(streamed.response.headers.get('content-type')).toStartWith('text/event-stream');
        expect(streamed.response.headers.get('x-accel-buffering')).toBe('no');
        expect(streamed.ended).toBe(true);
        const names = streamed.events.map((e) => e.event);
        expect(names[0]).toBe('start');
        expect(names.at(-1)).toBe('done');
        expect(names.slice(1, -1).every((n) => n === 'delta')).toBe(true);
        expect(names.length).toBeGreaterThan(3);
        for (const [i, event] of streamed.events.entries()) {
          expect(event.id).not.toBe('');
          if (i > 0) expect(compareEventIds(streamed.events[i - 1]!.id, event.id)).toBeLessThan(0);
        }

        const stored = await getChat(app, account.accessToken, chat.id);
        expect(stored.messages).toHaveLength(2);
        const [user, assistant] = stored.messages as [(typeof stored.messages)[0], (typeof stored.messages)[0]];
        expect(streamed.start).toEqual({
          chatId: chat.id,
          userMessageId: user.id,
          messageId: assistant.id,
          streamId: expect.any(String),
          provider,
          model,
        });
        expect(streamed.done).toEqual({
          messageId: assistant.id,
          finishReason: 'stop',
          usage: { inputTokens: expect.any(Number), outputTokens: wordCount(reply(text)) },
        });
        expect(streamed.text).toBe(reply(text));
        expect(assistant).toMatchObject({
          role: 'assistant',
          content: streamed.text,
          status: 'complete',
          provider,
          model,
          finishReason: 'stop',
          usage: streamed.done.usage,
        });
        expect(user).toMatchObject({ role: 'user', content: text, status: 'complete' });
      });

      test(`happy: ${provider} with stream:false answers {userMessage, assistantMessage}`, async () => {
        const account = await register(app);
        const chat = await createChat(app, account.accessToken, { provider, model });
        const text = uniqueText('json');
        const sent = await sendJson(app, account.accessToken, chat.id, { content: text });
        expect(Object.keys(sent).sort()).toEqual(['assistantMessage', 'userMessage']);
        expect(sent.userMessage).toMatchObject({ chatId: chat.id, role: 'user', content: text, status: 'complete' });
        expect(sent.assistantMessage).toMatchObject({
          chatId: chat.id,
          role: 'assistant',
          content: reply(text),
          status: 'complete',
          provider,
          model,
          finishReason: 'stop',
        });
        expect(sent.assistantMessage.usage.outputTokens).toBe(wordCount(reply(text)));
        const stored = await getChat(app, account.accessToken, chat.id);
        expect(stored.messages.map((m: { id: string }) => m.id)).toEqual([sent.userMessage.id, sent.assistantMessage.id]);
        expect(stored.messages[1]).toEqual(sent.assistantMessage);
      });

      if (provider === 'echo') continue;
      test(`happy: ${provider} gets the earlier turns and the chat's system prompt upstream`, async () => {
        const account = await register(app);
        const systemPrompt = `You are terse ${uniqueText('system')}`;
        const chat = await createChat(app, account.accessToken, { provider, model, systemPrompt });
        const first = uniqueText('first');
        const second = uniqueText('second');
        await sendJson(app, account.accessToken, chat.id, { content: first });
        const streamed = await streamMessage(app, account.accessToken, chat.id, { content: second });
        expect(streamed.text).toBe(reply(second));

        const calls = upstreamCalls(fake, second);
        expect(calls).toHaveLength(1);
        const body = bodyOf(calls[0]!);
        expect(calls[0]!.path).toBe(provider === 'anthropic' ? '/v1/messages' : '/v1/chat/completions');
        expect(body.model).toBe(model);
        const turns = (body.messages ?? []).map((m) => ({ role: m.role, content: textOfContent(m.content) }));
        const history = [
          { role: 'user', content: first },
          { role: 'assistant', content: reply(first) },
          { role: 'user', content: second },
        ];
        if (provider === 'anthropic') {
          expect(textOfContent(body.system)).toBe(systemPrompt);
          expect(turns).toEqual(history);
          expect(body.temperature).toBeUndefined();
        } else {
          expect(turns).toEqual([{ role: 'system', content: systemPrompt }, ...history]);
          expect(body.temperature).toBe(0.7);
        }
        expect(body.max_tokens).toBe(1000);
      });
    }

    test('happy: the first message titles an untitled chat, and a later one does not rename it', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'echo' });
      expect(chat.title).toBeNull();
      const first = uniqueText('Plan a trip');
      await sendJson(app, account.accessToken, chat.id, { content: first });
      expect((await getChat(app, account.accessToken, chat.id)).title).toBe(first);
      await sendJson(app, account.accessToken, chat.id, { content: uniqueText('second') });
      expect((await getChat(app, account.accessToken, chat.id)).title).toBe(first);
      const named = await createChat(app, account.accessToken, { provider: 'echo', title: 'Kept name' });
      await sendJson(app, account.accessToken, named.id, { content: uniqueText('other') });
      expect((await getChat(app, account.accessToken, named.id)).title).toBe('Kept name');
      const long = await createChat(app, account.accessToken, { provider: 'echo' });
      const words = 'a rather long opening message that keeps going well past the sixty characters a title may hold';
      await sendJson(app, account.accessToken, long.id, { content: words });
      const title = String((await getChat(app, account.accessToken, long.id)).title);
      expect(title.endsWith('…')).toBe(true);
      expect(title.length).toBeLessThanOrEqual(61);
      expect(words.startsWith(title.slice(0, -1))).toBe(true);
    });

    test('happy: each reply is counted in GET /users/me/usage', async () => {
      const account = await register(app);
      const usage = async () =>
        (await readJson(await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) }))) as {
          totals: { requests: number; inputTokens: number; outputTokens: number };
          byModel: { provider: string; model: string; requests: number }[];
        };
      const before = await usage();
      expect(before.totals).toEqual({ requests: 0, inputTokens: 0, outputTokens: 0 });
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const text = uniqueText('usage');
      const streamed = await streamMessage(app, account.accessToken, chat.id, { content: text });
      const after = await usage();
      expect(after.totals).toEqual({
        requests: 1,
        inputTokens: streamed.done.usage.inputTokens,
        outputTokens: streamed.done.usage.outputTokens,
      });
      expect(after.totals.outputTokens).toBe(wordCount(expectedReply(text)));
      expect(after.byModel).toEqual([expect.objectContaining({ provider: 'openai', model: 'gpt-4o-mini', requests: 1 })]);
      await sendJson(app, account.accessToken, chat.id, { content: uniqueText('again'), provider: 'echo' });
      const third = await usage();
      expect(third.totals.requests).toBe(2);
      expect(third.byModel.map((row) => `${row.provider}:${row.model}`).sort()).toEqual(['echo:echo', 'openai:gpt-4o-mini']);
    });

    test('happy: GET /:id/messages pages oldest first without repeats', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'echo' });
      for (let i = 0; i < 3; i++) await sendJson(app, account.accessToken, chat.id, { content: uniqueText(`turn${i}`) });
      const all = (await getChat(app, account.accessToken, chat.id)).messages.map((m: { id: string }) => m.id);
      expect(all).toHaveLength(6);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor ? `?limit=4&cursor=${encodeURIComponent(cursor)}` : '?limit=4';
        const response = await app.request(`/api/v1/chats/${chat.id}/messages${query}`, { headers: bearer(account.accessToken) });
        expect(response.status).toBe(200);
        const page = await readJson(response);
        seen.push(...page.data.map((m: { id: string }) => m.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 5);
      expect(pages).toBe(2);
      expect(seen).toEqual(all);
      const roles = (
        await readJson(await app.request(`/api/v1/chats/${chat.id}/messages`, { headers: bearer(account.accessToken) }))
      ).data.map((m: { role: string }) => m.role);
      expect(roles).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    });

    test('error: a model the chosen provider does not offer is 422 and stores nothing', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'echo' });
      const response = await app.request(`/api/v1/chats/${chat.id}/messages`, {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { content: 'hi', provider: 'echo', model: 'not-echo' },
      });
      expect(response.status).toBe(422);
      expect((await getChat(app, account.accessToken, chat.id)).messages).toEqual([]);
    });
  });
}
