// Tools on the native stateless chat (POST /api/v1/chat and /chat/stream): the model's calls come
// back as `toolCalls` (SSE: `tool_call` events), and the results go back as `tool` turns of the
// history, with no new message, for the model to answer. Against the fake upstream, on every
// storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, type Json, readJson, register } from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';
import { readSse } from '../helpers/sse.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const weather = {
  name: 'get_weather',
  description: 'The weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } } },
};

describe.each(kinds)('tools on the stateless chat (%s)', (_label, kind) => {
  let app: TestApp;
  let token: string;
  beforeAll(async () => {
    app = await createTestApp(kind, llmEnv(fake));
    token = (await register(app)).accessToken;
  });
  afterAll(() => app?.close());

  const chat = (json: unknown, path = '/api/v1/chat') => app.request(path, { method: 'POST', headers: bearer(token), json });

  test('happy: the model’s tool call is the reply’s toolCalls; the result sent back in the history gets the answer', async () => {
    for (const provider of ['openai', 'anthropic']) {
      const first = await chat({ provider, model: 'fake-tool-call', message: 'weather in Oslo?', tools: [weather] });
      const called = (await readJson(first)) as Json;
      expect(first.status).toBe(200);
      expect(called.reply).toBe('');
      expect(called.toolCalls).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: '{"city":"city-value"}' }]);

      const second = await chat({
        provider,
        model: 'fake-tool-call',
        tools: [weather],
        history: [
          { role: 'user', content: 'weather in Oslo?' },
          { role: 'assistant', content: '', toolCalls: called.toolCalls },
          { role: 'tool', toolCallId: called.toolCalls[0].id, content: 'snow' },
        ],
      });
      const answered = (await readJson(second)) as Json;
      expect(`${second.status} ${answered.reply}`).toBe(`200 ${expectedReply('tool result: snow')}`);
      expect(answered).not.toHaveProperty('toolCalls');
    }
  });

  test('happy: /chat/stream sends each call as a tool_call event, then done with finishReason tool_calls', async () => {
    const response = await chat(
      { provider: 'openai', model: 'fake-parallel-tool-calls', message: 'two', tools: [weather, { name: 'get_time' }], toolChoice: 'auto' },
      '/api/v1/chat/stream',
    );
    const { events } = await readSse(response);
    expect(events.map((event) => event.event)).toEqual(['start', 'tool_call', 'tool_call', 'done']);
    const calls = events.filter((event) => event.event === 'tool_call').map((event) => event.data);
    expect(calls).toEqual([
      { index: 0, id: expect.any(String), name: 'get_weather', arguments: '{"city":"city-value"}' },
      { index: 1, id: expect.any(String), name: 'get_time', arguments: '{}' },
    ]);
    expect((events.at(-1)!.data as Json).finishReason).toBe('tool_calls');
  });

  test('happy: a forced tool choice reaches upstream', async () => {
    const response = await chat({
      provider: 'openai',
      model: 'gpt-4o-mini',
      message: 'x',
      tools: [weather],
      toolChoice: { name: 'get_weather' },
    });
    expect(((await readJson(response)) as Json).toolCalls[0].name).toBe('get_weather');
    expect((fake.requests.at(-1)!.body as Json).tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
  });

  test('error: no message is 422 body.message unless the history ends with tool results', async () => {
    const body = await expectError(await chat({ provider: 'echo', history: [{ role: 'user', content: 'hi' }] }), 422, 'validation_error');
    expect(body.error.details[0].field).toBe('body.message');
    await expectError(await chat({ message: 'x', tools: [{ name: 'has space' }] }), 422, 'validation_error');
  });
});
