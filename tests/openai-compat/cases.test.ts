// The breaks of the clients report (../shared/cases/2026-11-30-clients.md) about what /v1 takes,
// each as its smallest reproduction with the right behaviour: B1 (the whole request), B2 (tool
// calling), B6 (images and audio), B7 (conversation shapes). Errors (B3, B5) are in
// cases-errors.test.ts; B10 (disconnect cancels) needs a real socket: openai-sdk.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { expectedReply, expectedToolArguments, type FakeUpstream, fakeLogprob, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds, type TestApp } from '../helpers/app.ts';
import { bearer, type Json, readJson, uniqueText } from '../helpers/client.ts';
import { llmEnv, modelCalls, upstreamCalls } from '../helpers/llm.ts';
import { completionChunks, expectOpenAiError, keyedApp } from '../helpers/openai.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};
const PNG = 'data:image/png;base64,iVBORw0KGgo=';

const callsTo = (model: string) => modelCalls(fake, model);

describe.each(kinds)('/v1 request cases of the clients report (%s)', (_label, kind) => {
  let app: TestApp;
  let key: string;

  beforeAll(async () => {
    ({ app, key } = await keyedApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '2', LLM_RETRY_BASE_MS: '1' })));
  });
  afterAll(() => app?.close());
  beforeEach(() => fake.reset());

  const complete = (body: Record<string, unknown>) =>
    app.request('/v1/chat/completions', { method: 'POST', headers: bearer(key), json: body });
  const ok = async (response: Response) => {
    const body = await readJson(response);
    expect(`${response.status} ${JSON.stringify(body)}`).toStartWith('200 ');
    return body;
  };

  describe('B1: the whole Chat Completions request', () => {
    test('happy: the fields the report lists are taken (stop, n 1, top_p, seed, user, penalties, logprobs false, store, metadata…)', async () => {
      const text = uniqueText('b1');
      const body = await ok(
        await complete({
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'user', content: text }],
          n: 1,
          stop: ['STOP'],
          top_p: 0.9,
          seed: 3,
          user: 'end-user-1',
          presence_penalty: 0.1,
          frequency_penalty: 0.2,
          logprobs: false,
          store: false,
          metadata: { run: '1' },
          parallel_tool_calls: true,
          reasoning_effort: 'low',
          service_tier: 'auto',
          modalities: ['text'],
          verbosity: 'low',
          temperature: null,
          max_tokens: null,
          stream_options: null,
          response_format: { type: 'json_object' },
          max_completion_tokens: 40,
        }),
      );
      expect(body.choices[0].message.content).toBe(expectedReply(text));
      const [sent] = upstreamCalls(fake, text);
      expect(sent?.body).toMatchObject({
        stop: ['STOP'],
        top_p: 0.9,
        seed: 3,
        user: 'end-user-1',
        presence_penalty: 0.1,
        frequency_penalty: 0.2,
        reasoning_effort: 'low',
        response_format: { type: 'json_object' },
        max_completion_tokens: 40,
      });
      expect(sent?.body).not.toHaveProperty('max_tokens');
    });

    test('happy: logprobs reach OpenAI and come back, whole and streamed', async () => {
      const text = uniqueText('logprobs');
      const body = await ok(
        await complete({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }], logprobs: true, top_logprobs: 2 }),
      );
      const tokens = body.choices[0].logprobs.content;
      expect(tokens.map((entry: { token: string }) => entry.token).join('')).toBe(expectedReply(text));
      expect(tokens[0]).toEqual(fakeLogprob(tokens[0].token, 2));
      expect(upstreamCalls(fake, text)[0]?.body).toMatchObject({ logprobs: true, top_logprobs: 2 });

      const chunks = await completionChunks(
        await complete({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }], logprobs: true, stream: true }),
      );
      const streamed = chunks.flatMap((chunk) => chunk.choices[0]?.logprobs?.content ?? []);
      expect(streamed.map((entry: { token: string }) => entry.token).join('')).toBe(expectedReply(text));
      expect(streamed[0].top_logprobs).toEqual([]);
    });

    test('error: logprobs from a provider that returns none is OpenAI’s 400 naming logprobs', async () => {
      await expectOpenAiError(
        await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: 'x' }], logprobs: true }),
        400,
        'invalid_request_error',
        { param: 'logprobs' },
      );
      expect(callsTo('claude-haiku-4-5')).toEqual([]);
    });

    test('happy: n 2 answers two choices, each a reply of its own (two upstream calls), usage summed', async () => {
      const text = uniqueText('two choices');
      const body = await ok(await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: text }], n: 2 }));
      expect(body.choices.map((choice: Json) => [choice.index, choice.message.content, choice.finish_reason])).toEqual([
        [0, expectedReply(text), 'stop'],
        [1, expectedReply(text), 'stop'],
      ]);
      expect(upstreamCalls(fake, text).length).toBe(2);
      const one = await ok(await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: text }] }));
      expect(body.usage.completion_tokens).toBe(2 * one.usage.completion_tokens);
    });

    test('error: n above 8 is OpenAI’s 400 naming n; nothing is sent', async () => {
      const text = uniqueText('nine');
      await expectOpenAiError(
        await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: text }], n: 9 }),
        400,
        'invalid_request_error',
        { param: 'n' },
      );
      expect(upstreamCalls(fake, text)).toEqual([]);
    });
  });

  describe('B2: tool calling', () => {
    test('happy: a tool round in the history with no tools (a summary after it) is answered by an anthropic model too', async () => {
      const text = uniqueText('summarise');
      const body = await ok(
        await complete({
          model: 'anthropic/claude-haiku-4-5',
          messages: [
            { role: 'user', content: 'weather in Paris?' },
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
            },
            { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
            { role: 'user', content: text },
          ],
        }),
      );
      expect(body.choices[0].message.content).toBe(expectedReply(text));
      expect(upstreamCalls(fake, text)[0]?.body).toMatchObject({ tools: [{ name: 'get_weather' }], tool_choice: { type: 'none' } });
    });

    test('happy: a tool call, not streamed: message.tool_calls with content null and finish_reason tool_calls', async () => {
      const body = await ok(
        await complete({
          model: 'openai/fake-tool-call',
          messages: [{ role: 'user', content: 'weather in Paris?' }],
          tools: [weatherTool],
          tool_choice: 'auto',
        }),
      );
      const [choice] = body.choices;
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      expect(choice.message.tool_calls).toEqual([
        {
          id: expect.any(String),
          type: 'function',
          function: { name: 'get_weather', arguments: expectedToolArguments(weatherTool.function.parameters) },
        },
      ]);
      expect(body.usage.completion_tokens).toBeGreaterThan(0);
    });

    test('happy: a tool call streamed as delta.tool_calls, then finish_reason tool_calls', async () => {
      const chunks = await completionChunks(
        await complete({
          model: 'anthropic/fake-tool-call',
          messages: [{ role: 'user', content: 'weather?' }],
          tools: [weatherTool],
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? []);
      expect(calls).toEqual([
        {
          index: 0,
          id: expect.stringMatching(/^toolu_/),
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"city-value"}' },
        },
      ]);
      expect(chunks.map((chunk) => chunk.choices[0]?.finish_reason).filter(Boolean)).toEqual(['tool_calls']);
      expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
    });

    test('happy: the round trip of the report (assistant content null + tool_calls, then role tool) reaches OpenAI and Anthropic', async () => {
      const messages = [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ];
      for (const model of ['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5', 'ollama/llama3']) {
        const body = await ok(await complete({ model, messages, tools: [weatherTool] }));
        expect(body.choices[0].message.content).toBe(expectedReply('tool result: {"temp":21}'));
        expect(body.choices[0].finish_reason).toBe('stop');
      }
      expect(callsTo('gpt-4o-mini')[0]?.body).toMatchObject({ messages: [messages[0], messages[1], messages[2]] });
      expect(callsTo('claude-haiku-4-5')[0]?.body).toMatchObject({
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '{"temp":21}' }] },
        ],
      });
    });

    test('happy: a forced function and parallel_tool_calls false reach upstream; the forced tool is called', async () => {
      const other = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };
      const body = await ok(
        await complete({
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'user', content: 'time?' }],
          tools: [weatherTool, other],
          tool_choice: { type: 'function', function: { name: 'get_time' } },
          parallel_tool_calls: false,
        }),
      );
      expect(body.choices[0].message.tool_calls.map((call: { function: { name: string } }) => call.function.name)).toEqual(['get_time']);
      expect(callsTo('gpt-4o-mini')[0]?.body).toMatchObject({
        tool_choice: { type: 'function', function: { name: 'get_time' } },
        parallel_tool_calls: false,
      });
    });
  });

  describe('B6: images reach the model, audio is refused', () => {
    test('happy: an image_url part (data URL and http URL) reaches a vision model as a part, beside the text', async () => {
      const text = uniqueText('picture');
      const content = [
        { type: 'text', text },
        { type: 'image_url', image_url: { url: PNG } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
      ];
      await ok(await complete({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }));
      expect(upstreamCalls(fake, text)[0]?.body).toMatchObject({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text },
              { type: 'image_url', image_url: { url: PNG } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      });
      await ok(await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content }] }));
      const anthropic = callsTo('claude-haiku-4-5')[0]?.body as { messages: { content: unknown[] }[] };
      expect(anthropic.messages[0]!.content[1]).toEqual({
        type: 'image',
        source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
      });
    });

    test('happy: Ollama gets an image’s bytes; error: an image by URL, which it cannot fetch, is a 400 naming the part', async () => {
      const text = uniqueText('llava');
      await ok(
        await complete({
          model: 'ollama/llava',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text },
                { type: 'image_url', image_url: { url: PNG } },
              ],
            },
          ],
        }),
      );
      expect(upstreamCalls(fake, text)[0]?.body).toMatchObject({
        model: 'llava',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text },
              { type: 'image_url', image_url: { url: PNG } },
            ],
          },
        ],
      });
      const byUrl = [
        { type: 'text', text: 'x' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      ];
      const refused = await expectOpenAiError(
        await complete({ model: 'ollama/llava', messages: [{ role: 'user', content: byUrl }] }),
        400,
        'invalid_request_error',
        { param: 'messages[0].content[1]' },
      );
      expect(refused.error.message).toContain('not by URL');
    });

    test('happy: an image-only message is a message', async () => {
      const body = await ok(
        await complete({ model: 'echo/echo', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: PNG } }] }] }),
      );
      expect(body.choices[0].message.content).toBe('[image image/png 8 bytes]');
    });

    test('error: a model that takes no images is OpenAI’s 400 naming the part; nothing is sent', async () => {
      const text = uniqueText('no vision');
      const body = await expectOpenAiError(
        await complete({
          model: 'openai/gpt-3.5-turbo',
          messages: [
            { role: 'system', content: 'be brief' },
            {
              role: 'user',
              content: [
                { type: 'text', text },
                { type: 'image_url', image_url: { url: PNG } },
              ],
            },
          ],
        }),
        400,
        'invalid_request_error',
        { param: 'messages[1].content[1]' },
      );
      expect(body.error.message).toContain('cannot take images');
      expect(upstreamCalls(fake, text)).toEqual([]);
    });

    test('error: audio and file parts, and an image URL of another scheme, are a 400 naming the part', async () => {
      const parts = [
        { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
        { type: 'file', file: { file_id: 'file-1' } },
        { type: 'image_url', image_url: { url: 'ftp://example.com/x.png' } },
      ];
      for (const part of parts) {
        await expectOpenAiError(
          await complete({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: [{ type: 'text', text: 'this' }, part] }] }),
          400,
          'invalid_request_error',
          { param: 'messages[0].content[1]' },
        );
      }
      expect(callsTo('gpt-4o-mini')).toEqual([]);
    });
  });

  describe('B7: conversation shapes OpenAI accepts', () => {
    test('happy: a system message alone is the prompt', async () => {
      const body = await ok(await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'system', content: 'Say hello.' }] }));
      expect(body.choices[0].message.content).toBe(expectedReply('Say hello.'));
      await ok(await complete({ model: 'openai/gpt-4o-mini', messages: [{ role: 'developer', content: 'Say hello.' }] }));
      expect(callsTo('gpt-4o-mini')[0]?.body).toMatchObject({ messages: [{ role: 'system', content: 'Say hello.' }] });
    });

    test('happy: a conversation may end with the assistant (continued), and system messages may come anywhere', async () => {
      const text = uniqueText('middle');
      await ok(
        await complete({
          model: 'openai/gpt-4o-mini',
          messages: [
            { role: 'user', content: text, name: 'ann' },
            { role: 'developer', content: [{ type: 'text', text: 'Be terse.' }] },
            { role: 'assistant', content: [{ type: 'text', text: 'Sure' }] },
          ],
        }),
      );
      expect(upstreamCalls(fake, text)[0]?.body).toMatchObject({
        messages: [
          { role: 'system', content: 'Be terse.' },
          { role: 'user', content: text },
          { role: 'assistant', content: 'Sure' },
        ],
      });
    });

    test('error: a conversation with nothing in it is OpenAI’s 400 naming messages', async () => {
      await expectOpenAiError(
        await complete({ model: 'echo/echo', messages: [{ role: 'system', content: '' }] }),
        400,
        'invalid_request_error',
        {
          param: 'messages',
        },
      );
    });
  });
});
