// Tools in native chats: a chat's tools (and a turn's), the model's calls stored on its reply,
// the client's results stored as one `tool` message in the tree, and the reply to them, with the
// whole tool round sent upstream in each wire format. Against the fake OpenAI and Anthropic
// upstreams (which refuse tool turns the real APIs refuse), on every storage kind.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { expectedReply, type FakeUpstream, type RecordedRequest, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  asAdmin,
  bearer,
  createChat,
  expectError,
  getChat,
  type Json,
  readJson,
  register,
  sendJson,
  sendMessage,
  streamMessage,
  uniqueText,
} from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';
import { WsClient } from '../helpers/ws.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } } },
};
const time = { name: 'get_time' };
const weatherArguments = '{"city":"city-value"}';

/** The generation requests that reached the fake since `from`. */
const generationsSince = (from: number): RecordedRequest[] =>
  fake.requests.slice(from).filter((request) => request.path === '/v1/chat/completions' || request.path === '/v1/messages');
const wireOf = (request: RecordedRequest) => request.body as Json;

/** The tool round of a request in its wire format, reduced to what must be there: roles, calls, results. */
function toolTurns(provider: 'openai' | 'anthropic', request: RecordedRequest): Json[] {
  const messages = wireOf(request).messages as Json[];
  if (provider === 'openai')
    return messages.map((m) =>
      m.role === 'tool'
        ? { role: 'tool', id: m.tool_call_id, content: m.content }
        : m.tool_calls
          ? { role: m.role, calls: m.tool_calls.map((c: Json) => [c.id, c.function.name, c.function.arguments]) }
          : { role: m.role },
    );
  return messages.map((m) => {
    const blocks = Array.isArray(m.content) ? m.content : [];
    const uses = blocks.filter((b: Json) => b.type === 'tool_use');
    const results = blocks.filter((b: Json) => b.type === 'tool_result');
    if (results.length) return { role: 'tool', results: results.map((b: Json) => [b.tool_use_id, b.content]) };
    if (uses.length) return { role: m.role, calls: uses.map((b: Json) => [b.id, b.name, JSON.stringify(b.input)]) };
    return { role: m.role };
  });
}

for (const [name, kind] of kinds) {
  describe(`chat tools on ${name}`, () => {
    let app: TestApp;
    let account: Account;
    let token: string;
    let wsUrl: string;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '0' }));
      app.app.listen({ port: 0, hostname: '127.0.0.1' });
      wsUrl = `ws://127.0.0.1:${app.app.server!.port}/api/v1/ws`;
      account = await register(app);
      token = account.accessToken;
    });
    afterAll(async () => {
      await app.app.stop(true);
      await app.close();
    });

    const patchChat = (chatId: string, json: unknown) =>
      app.request(`/api/v1/chats/${chatId}`, { method: 'PATCH', headers: bearer(token), json });
    const post = (path: string, json: unknown = {}) => app.request(path, { method: 'POST', headers: bearer(token), json });

    test('happy: a chat carries tools and toolChoice: set at create, returned, changed and cleared with PATCH', async () => {
      const chat = await createChat(app, token, {
        provider: 'openai',
        model: 'fake-tool-call',
        tools: [weather, time],
        toolChoice: 'auto',
      });
      expect(chat.tools).toEqual([weather, time]);
      expect(chat.toolChoice).toBe('auto');
      expect((await getChat(app, token, chat.id)).tools).toEqual([weather, time]);
      const patched = await readJson(await patchChat(chat.id, { tools: [time], toolChoice: { name: 'get_time' } }));
      expect(patched).toMatchObject({ tools: [time], toolChoice: { name: 'get_time' } });
      // Featured, the chat is public; its tools stay its owner's, like its system prompt.
      const featured = await app.request(`/api/v1/chats/${chat.id}/featured`, {
        method: 'PATCH',
        headers: asAdmin,
        json: { featured: true },
      });
      expect(featured.status).toBe(200);
      expect(await getChat(app, null, chat.id)).toMatchObject({ tools: null, toolChoice: null });
      const cleared = await readJson(await patchChat(chat.id, { tools: null, toolChoice: null }));
      expect(cleared).toMatchObject({ tools: null, toolChoice: null });
      // A chat without tools says so.
      expect(await createChat(app, token, {})).toMatchObject({ tools: null, toolChoice: null });
    });

    test('error: tools are held to the stateless route’s limits; a named choice must name one of them; two tools of one name are refused', async () => {
      const create = (json: unknown) => post('/api/v1/chats', json);
      await expectError(await create({ tools: [{ name: 'has space' }] }), 422, 'validation_error');
      await expectError(await create({ tools: [{ name: 'x', extra: 1 }] }), 422, 'validation_error');
      await expectError(await create({ tools: Array.from({ length: 129 }, (_, i) => ({ name: `t${i}` })) }), 422, 'validation_error');
      const unknown = await expectError(await create({ tools: [weather], toolChoice: { name: 'nope' } }), 422, 'validation_error');
      expect(unknown.error.details[0].field).toBe('body.toolChoice');
      const twice = await expectError(await create({ tools: [weather, weather] }), 422, 'validation_error');
      expect(twice.error.details[0].field).toBe('body.tools');
      const chat = await createChat(app, token, { tools: [weather] });
      await expectError(await patchChat(chat.id, { toolChoice: { name: 'get_time' } }), 422, 'validation_error');
      expect((await getChat(app, token, chat.id)).toolChoice).toBeNull();
    });

    for (const provider of ['openai', 'anthropic'] as const) {
      test(`happy: ${provider}, streamed: the call is a tool_call event and stored; the results are a tool message the model answers`, async () => {
        const chat = await createChat(app, token, { provider, model: 'fake-tool-call', tools: [weather] });
        const question = uniqueText('weather in Oslo?');
        const from = fake.requests.length;
        const called = await streamMessage(app, token, chat.id, { content: question });
        expect(called.events.map((event) => event.event)).toEqual(['start', 'tool_call', 'done']);
        const call = called.events[1]!.data;
        expect(call).toEqual({ index: 0, id: expect.any(String), name: 'get_weather', arguments: weatherArguments });
        expect(called.done).toMatchObject({ finishReason: 'tool_calls' });
        // The upstream request held the chat's tools in its wire format.
        const [first] = generationsSince(from);
        const tools = wireOf(first!).tools as Json[];
        expect(provider === 'openai' ? tools[0].function.name : tools[0].name).toBe('get_weather');

        let read = await getChat(app, token, chat.id);
        expect(read.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
        const caller = read.messages[1]!;
        expect(caller).toMatchObject({ content: '', finishReason: 'tool_calls', status: 'complete' });
        expect(caller.toolCalls).toEqual([{ id: call.id, name: 'get_weather', arguments: weatherArguments }]);

        const before = fake.requests.length;
        const answered = await streamMessage(app, token, chat.id, { toolResults: [{ toolCallId: call.id, content: 'snow' }] });
        expect(answered.text).toBe(expectedReply('tool result: snow'));
        expect(answered.done).toMatchObject({ finishReason: 'stop' });
        const [second] = generationsSince(before);
        const resultTurn =
          provider === 'openai' ? { role: 'tool', id: call.id, content: 'snow' } : { role: 'tool', results: [[call.id, 'snow']] };
        expect(toolTurns(provider, second!)).toEqual([
          { role: 'user' },
          { role: 'assistant', calls: [[call.id, 'get_weather', weatherArguments]] },
          resultTurn,
        ]);

        read = await getChat(app, token, chat.id);
        expect(read.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
        const [, , tool, reply] = read.messages;
        expect(tool).toMatchObject({ parentId: caller.id, content: 'snow', toolResults: [{ toolCallId: call.id, content: 'snow' }] });
        expect(answered.start).toMatchObject({ userMessageId: tool!.id, messageId: reply!.id });
        expect(reply).toMatchObject({ parentId: tool!.id, content: expectedReply('tool result: snow'), siblingCount: 1 });
        expect(reply).not.toHaveProperty('toolCalls');

        // The next question goes with the whole tool round; the model is told not to call this time.
        const next = await sendJson(app, token, chat.id, { content: 'and tomorrow?', toolChoice: 'none' });
        expect(next.assistantMessage.content).toBe(expectedReply('and tomorrow?'));
        expect(toolTurns(provider, generationsSince(before).at(-1)!)).toEqual([
          { role: 'user' },
          { role: 'assistant', calls: [[call.id, 'get_weather', weatherArguments]] },
          resultTurn,
          { role: 'assistant' },
          { role: 'user' },
        ]);
        read = await getChat(app, token, chat.id);
        expect(read.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user', 'assistant']);
        expect(read.messages[4]!.parentId).toBe(read.messages[0]!.id);
      });
    }

    test('happy: not streamed, two calls in one reply, both answered in one tool message; the answer is JSON with the tool message', async () => {
      const chat = await createChat(app, token, { provider: 'openai', model: 'fake-parallel-tool-calls', tools: [weather, time] });
      const called = await sendJson(app, token, chat.id, { content: uniqueText('two things') });
      expect(called.assistantMessage).toMatchObject({ finishReason: 'tool_calls', content: '' });
      const calls = called.assistantMessage.toolCalls as Json[];
      expect(calls.map((c) => c.name)).toEqual(['get_weather', 'get_time']);
      // Given in another order, stored in the calls' order.
      const answered = await sendJson(app, token, chat.id, {
        toolResults: [
          { toolCallId: calls[1].id, content: '12:00' },
          { toolCallId: calls[0].id, content: 'rain' },
        ],
      });
      expect(answered.userMessage).toBeNull();
      expect(answered.toolMessage).toMatchObject({
        role: 'tool',
        parentId: called.assistantMessage.id,
        toolResults: [
          { toolCallId: calls[0].id, content: 'rain' },
          { toolCallId: calls[1].id, content: '12:00' },
        ],
      });
      expect(answered.assistantMessage).toMatchObject({ parentId: answered.toolMessage.id, content: expectedReply('tool result: 12:00') });
      const request = generationsSince(0).at(-1)!;
      expect(toolTurns('openai', request).slice(2)).toEqual([
        { role: 'tool', id: calls[0].id, content: 'rain' },
        { role: 'tool', id: calls[1].id, content: '12:00' },
      ]);
    });

    test('happy: on Anthropic, a turn’s own tools, then its results and a question with none: each is answered (found by the fresh run)', async () => {
      const chat = await createChat(app, token, { provider: 'anthropic', model: 'fake-tool-call' });
      const called = await sendJson(app, token, chat.id, { content: uniqueText('weather'), tools: [weather] });
      const [call] = called.assistantMessage.toolCalls as Json[];
      // The results without the turn's tools again, then a question with tools: [].
      const answered = await sendJson(app, token, chat.id, { toolResults: [{ toolCallId: call.id, content: 'sunny' }] });
      expect(answered.assistantMessage).toMatchObject({ status: 'complete', content: expectedReply('tool result: sunny') });
      const after = await sendJson(app, token, chat.id, { content: 'thanks', tools: [] });
      expect(after.assistantMessage).toMatchObject({ status: 'complete', content: expectedReply('thanks') });
      expect(wireOf(generationsSince(0).at(-1)!)).toMatchObject({ tools: [{ name: 'get_weather' }], tool_choice: { type: 'none' } });
    });

    test('error: results that do not answer the last reply’s calls exactly are 422, and store nothing', async () => {
      const chat = await createChat(app, token, { provider: 'openai', model: 'fake-parallel-tool-calls', tools: [weather, time] });
      // Nothing to answer yet.
      const early = await expectError(
        await sendMessage(app, token, chat.id, { toolResults: [{ toolCallId: 'call_x', content: 'x' }] }),
        422,
        'validation_error',
      );
      expect(early.error.details[0].field).toBe('body.toolResults');
      const called = await sendJson(app, token, chat.id, { content: uniqueText('two') });
      const [a, b] = called.assistantMessage.toolCalls as Json[];
      const refused = [
        [[{ toolCallId: a.id, content: 'only one' }], 'body.toolResults'],
        [
          [
            { toolCallId: a.id, content: '1' },
            { toolCallId: 'call_other', content: '2' },
          ],
          'body.toolResults.1.toolCallId',
        ],
        [
          [
            { toolCallId: a.id, content: '1' },
            { toolCallId: a.id, content: '2' },
          ],
          'body.toolResults.1.toolCallId',
        ],
      ] as const;
      for (const [toolResults, field] of refused) {
        const body = await expectError(await sendMessage(app, token, chat.id, { toolResults }), 422, 'validation_error');
        expect(body.error.details[0].field).toBe(field);
      }
      // The schema's own checks: an empty list, a result without its id, neither content nor results.
      await expectError(await sendMessage(app, token, chat.id, { toolResults: [] }), 422, 'validation_error');
      await expectError(await sendMessage(app, token, chat.id, { toolResults: [{ content: 'x' }] }), 422, 'validation_error');
      const nothing = await expectError(await sendMessage(app, token, chat.id, {}), 422, 'validation_error');
      expect(nothing.error.details[0].field).toBe('body.content');
      await expectError(await sendMessage(app, token, chat.id, { attachments: ['f'], toolResults: [] }), 422, 'validation_error');
      expect((await getChat(app, token, chat.id)).messages).toHaveLength(2);

      // Answered once, the calls are not the last message's any more.
      await sendJson(app, token, chat.id, {
        toolResults: [
          { toolCallId: a.id, content: '1' },
          { toolCallId: b.id, content: '2' },
        ],
      });
      const again = await expectError(
        await sendMessage(app, token, chat.id, { toolResults: [{ toolCallId: a.id, content: '1' }] }),
        422,
        'validation_error',
      );
      expect(again.error.message + JSON.stringify(again.error.details)).toContain('called no tools');
      expect((await getChat(app, token, chat.id)).messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    });

    test('happy: results and a question in one send: the tool message, then the question, which the model answers', async () => {
      const chat = await createChat(app, token, { provider: 'anthropic', model: 'fake-tool-call', tools: [weather] });
      const called = await sendJson(app, token, chat.id, { content: uniqueText('weather') });
      const call = called.assistantMessage.toolCalls[0];
      const both = await sendJson(app, token, chat.id, {
        content: 'thanks, now a poem',
        toolChoice: 'none',
        toolResults: [{ toolCallId: call.id, content: 'sun' }],
      });
      expect(both.toolMessage).toMatchObject({ role: 'tool', parentId: called.assistantMessage.id });
      expect(both.userMessage).toMatchObject({ role: 'user', content: 'thanks, now a poem', parentId: called.userMessage.id });
      expect(both.assistantMessage).toMatchObject({ parentId: both.userMessage.id, content: expectedReply('thanks, now a poem') });
      expect(toolTurns('anthropic', generationsSince(0).at(-1)!)).toEqual([
        { role: 'user' },
        { role: 'assistant', calls: [[call.id, 'get_weather', weatherArguments]] },
        { role: 'tool', results: [[call.id, 'sun']] },
        { role: 'user' },
      ]);
      const read = await getChat(app, token, chat.id);
      expect(read.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'user', 'assistant']);
    });

    test('happy: calls left unanswered (a question asked instead) are not sent upstream, which would refuse them', async () => {
      const chat = await createChat(app, token, { provider: 'openai', model: 'fake-tool-call', tools: [weather] });
      await sendJson(app, token, chat.id, { content: uniqueText('weather') });
      const next = await sendJson(app, token, chat.id, { content: 'never mind', tools: [] });
      expect(next.assistantMessage).toMatchObject({ status: 'complete', content: expectedReply('never mind') });
      const request = generationsSince(0).at(-1)!;
      expect(toolTurns('openai', request)).toEqual([{ role: 'user' }, { role: 'user' }]);
      // An empty list for the turn: no tools sent.
      expect(wireOf(request).tools).toBeUndefined();
    });

    test('happy: regenerate the reply to tool results (a sibling under the tool message), and the reply that called (the round leaves the path; select brings it back)', async () => {
      const chat = await createChat(app, token, { provider: 'openai', model: 'fake-tool-call', tools: [weather] });
      const called = await sendJson(app, token, chat.id, { content: uniqueText('weather') });
      const call = called.assistantMessage.toolCalls[0];
      const answered = await sendJson(app, token, chat.id, { toolResults: [{ toolCallId: call.id, content: 'fog' }] });
      const replyId = answered.assistantMessage.id;

      const from = fake.requests.length;
      const again = await readJson(await post(`/api/v1/chats/${chat.id}/messages/${replyId}/regenerate`, { stream: false }));
      expect(again.assistantMessage).toMatchObject({
        parentId: answered.toolMessage.id,
        content: expectedReply('tool result: fog'),
        siblingCount: 2,
        siblingIndex: 1,
      });
      expect(toolTurns('openai', generationsSince(from)[0]!)).toEqual([
        { role: 'user' },
        { role: 'assistant', calls: [[call.id, 'get_weather', weatherArguments]] },
        { role: 'tool', id: call.id, content: 'fog' },
      ]);
      let read = await getChat(app, token, chat.id);
      expect(read.messages.map((m) => m.id)).toEqual([
        called.userMessage.id,
        called.assistantMessage.id,
        answered.toolMessage.id,
        again.assistantMessage.id,
      ]);
      // Regenerating by the tool message's id means a new reply to it, too.
      const third = await readJson(
        await post(`/api/v1/chats/${chat.id}/messages/${answered.toolMessage.id}/regenerate`, { stream: false }),
      );
      expect(third.assistantMessage).toMatchObject({ parentId: answered.toolMessage.id, siblingCount: 3 });

      // A new version of the reply that called: its tool round leaves the active path with it.
      const recalled = await readJson(
        await post(`/api/v1/chats/${chat.id}/messages/${called.assistantMessage.id}/regenerate`, { stream: false }),
      );
      expect(recalled.assistantMessage).toMatchObject({ parentId: called.userMessage.id, finishReason: 'tool_calls', siblingCount: 2 });
      read = await getChat(app, token, chat.id);
      expect(read.messages.map((m) => m.id)).toEqual([called.userMessage.id, recalled.assistantMessage.id]);
      // Its new calls can be answered; the old round is back with select.
      const newCall = recalled.assistantMessage.toolCalls[0];
      expect(newCall.id).not.toBe(call.id);
      const selected = await readJson(await post(`/api/v1/chats/${chat.id}/messages/${replyId}/select`));
      expect(selected.messages.map((m: Json) => m.id)).toEqual([
        called.userMessage.id,
        called.assistantMessage.id,
        answered.toolMessage.id,
        replyId,
      ]);
      const stale = await expectError(
        await sendMessage(app, token, chat.id, { toolResults: [{ toolCallId: newCall.id, content: 'x' }] }),
        422,
        'validation_error',
      );
      expect(stale.error.details[0].field).toBe('body.toolResults');
    });

    test('happy: websocket chat.send with a turn’s tools: tool_call and done frames; chat.send with toolResults gets the answer', async () => {
      const chat = await createChat(app, token, { provider: 'anthropic', model: 'fake-tool-call' });
      const socket = await WsClient.ready(wsUrl, token);
      try {
        socket.send({ type: 'chat.send', chatId: chat.id, content: uniqueText('weather'), tools: [weather], requestId: 'r1' });
        const done = await socket.waitFor((f) => f.type === 'done' && f.requestId === 'r1', 'the first done');
        expect(done.finishReason).toBe('tool_calls');
        const call = socket.frames.find((f) => f.type === 'tool_call' && f.requestId === 'r1');
        expect(call).toMatchObject({ index: 0, name: 'get_weather', arguments: weatherArguments });
        socket.send({ type: 'chat.send', chatId: chat.id, toolResults: [{ toolCallId: call.id, content: 'hail' }], requestId: 'r2' });
        await socket.waitFor((f) => f.type === 'done' && f.requestId === 'r2', 'the second done');
        const text = socket.frames
          .filter((f) => f.type === 'delta' && f.requestId === 'r2')
          .map((f) => f.text)
          .join('');
        expect(text).toBe(expectedReply('tool result: hail'));
        const created = socket.frames.find((f) => f.type === 'message.created' && f.message.role === 'tool');
        expect(created.message.toolResults).toEqual([{ toolCallId: call.id, content: 'hail' }]);
        socket.send({ type: 'chat.send', chatId: chat.id, toolResults: [{ toolCallId: call.id, content: 'hail' }], requestId: 'r3' });
        const refused = await socket.waitFor((f) => f.type === 'error' && f.requestId === 'r3', 'the refusal');
        expect(refused.code).toBe('validation_error');
      } finally {
        await socket.close();
      }
      const read = await getChat(app, token, chat.id);
      expect(read.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      // The turn's tools were for that turn: the chat has none.
      expect(read.tools).toBeNull();
    });

    test('happy: echo ignores tools and answers in text; a chat of tool messages is searched, frozen and exported as text', async () => {
      const echo = await createChat(app, token, { provider: 'echo', tools: [weather] });
      const plain = await sendJson(app, token, echo.id, { content: 'just text' });
      expect(plain.assistantMessage).toMatchObject({ content: 'just text', finishReason: 'stop' });
      expect(plain.assistantMessage).not.toHaveProperty('toolCalls');
      await expectError(
        await sendMessage(app, token, echo.id, { toolResults: [{ toolCallId: 'c', content: 'x' }] }),
        422,
        'validation_error',
      );

      const chat = await createChat(app, token, { provider: 'openai', model: 'fake-tool-call', tools: [weather], title: 'Tool chat' });
      const called = await sendJson(app, token, chat.id, { content: uniqueText('weather') });
      const marker = `sleetstorm${Math.random().toString(36).slice(2, 8).replace(/\d/g, 'q')}`;
      const answered = await sendJson(app, token, chat.id, {
        toolResults: [{ toolCallId: called.assistantMessage.toolCalls[0].id, content: `${marker} all day` }],
      });
      const found = await readJson(await app.request(`/api/v1/chats/search?q=${marker}`, { headers: bearer(token) }));
      expect(found.data.map((hit: Json) => hit.chat.id)).toEqual([chat.id]);
      expect(found.data[0].matches.map((match: Json) => match.messageId)).toContain(answered.toolMessage.id);

      const transcript = await readJson(await post('/api/v1/transcripts', { chatId: chat.id }));
      expect(transcript.messages.map((m: Json) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      expect(transcript.messages[1].content).toBe(`→ get_weather(${weatherArguments})`);
      const markdown = await (await app.request(`/api/v1/transcripts/${transcript.id}?format=md`, { headers: bearer(token) })).text();
      expect(markdown).toContain('## Tool');
      expect(markdown).toContain(marker);
    });
  });
}
