// The official openai SDK, pointed at Parley's /v1 with a Parley API key, as a user would, with
// the fake upstreams behind Parley: create, stream, the `.stream()` helper, tools (and the SDK's
// own tool runner), response_format (its zod helpers), images, abort, and errors it can act on.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { uniqueText, waitUntil } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowChunkMs: 100 });
});
afterAll(() => fake.stop());

/** An SDK call's failure (the SDK's promises are lazy: expect().rejects does not drive them). */
const failure = (work: () => Promise<unknown>) =>
  work().then(
    () => undefined,
    (error: InstanceType<typeof OpenAI.APIError>) => error,
  );

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe.each(kinds)('OpenAI-compatible API through the openai SDK (%s)', (_label, kind) => {
  let server: Listening;
  let client: OpenAI;

  beforeAll(async () => {
    server = await listeningApp(kind, llmEnv(fake, { ECHO_DELAY_MS: '1', LLM_MAX_RETRIES: '2', LLM_RETRY_BASE_MS: '1' }));
    client = new OpenAI({ apiKey: server.key, baseURL: server.baseURL, maxRetries: 0 });
  });
  afterAll(() => server?.close());
  beforeEach(() => fake.reset());

  test('happy: models list, with provider/model ids', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toContain('echo/echo');
  });

  test('happy: a completion, not streamed, with history', async () => {
    const completion = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: 'say these words back' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toBe('say these words back');
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.model).toBe('echo/echo');
    expect(completion.usage!.completion_tokens).toBe(4);
  });

  test('happy: a streamed completion with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'stream me please' }] }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(expectedReply('stream me please'));
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(6);
  });

  test('happy: log probabilities through the .stream() helper', async () => {
    const stream = client.chat.completions.stream({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'probable' }],
      logprobs: true,
      top_logprobs: 1,
    });
    const final = await stream.finalChatCompletion();
    const content = final.choices[0]!.logprobs!.content!;
    expect(content.map((entry) => entry.token).join('')).toBe(expectedReply('probable'));
    expect(content[0]!.top_logprobs.length).toBe(1);
  });

  test('happy: the .stream() helper puts the final completion together', async () => {
    const stream = client.chat.completions.stream({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: 'helper' }] });
    let deltas = '';
    stream.on('content', (delta) => {
      deltas += delta;
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(expectedReply('helper'));
    expect(deltas).toBe(expectedReply('helper'));
  });

  test('happy: request fields the SDK sends are taken (stop, n 1, top_p, seed, user, logprobs false, nulls)', async () => {
    const completion = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [{ role: 'user', content: 'hi' }],
      top_p: 0.5,
      stop: ['STOP'],
      n: 1,
      seed: 7,
      user: 'u-1',
      logprobs: false,
      store: false,
      metadata: { run: '1' },
      parallel_tool_calls: false,
      reasoning_effort: 'low',
      temperature: null,
      max_tokens: null,
    });
    expect(completion.choices[0]!.message.content).toBe('hi');
  });

  test('happy: a tool call, then the tool result sent back, then the answer', async () => {
    const question: OpenAI.ChatCompletionMessageParam = { role: 'user', content: 'weather in Paris?' };
    const first = await client.chat.completions.create({ model: 'openai/fake-tool-call', messages: [question], tools: [weather] });
    const message = first.choices[0]!.message;
    expect(first.choices[0]!.finish_reason).toBe('tool_calls');
    expect(message.content).toBeNull();
    const call = message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'get_weather', arguments: '{"city":"city-value"}' });
    const second = await client.chat.completions.create({
      model: 'openai/fake-tool-call',
      messages: [question, message, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
      tools: [weather],
    });
    expect(second.choices[0]!.message.content).toBe(expectedReply('tool result: sunny'));
  });

  test('happy: streamed tool calls (two, in parallel) through the .stream() helper, from Anthropic', async () => {
    const time = { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };
    const stream = client.chat.completions.stream({
      model: 'anthropic/fake-parallel-tool-calls',
      messages: [{ role: 'user', content: 'both' }],
      tools: [weather, time],
    });
    const final = await stream.finalChatCompletion();
    const calls = final.choices[0]!.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
    expect(calls.map((call) => [call.function.name, call.function.arguments])).toEqual([
      ['get_weather', '{"city":"city-value"}'],
      ['get_time', '{}'],
    ]);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  test('happy: the SDK’s own tool runner (runTools) goes round the loop and ends with the answer', async () => {
    const runner = client.chat.completions.runTools({
      model: 'ollama/fake-tool-call',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [
        {
          type: 'function',
          function: { ...weather.function, function: (args: { city: string }) => `rain in ${args.city}`, parse: JSON.parse },
        },
      ],
    });
    expect(await runner.finalContent()).toBe(expectedReply('tool result: rain in city-value'));
  });

  test('happy: zod tools and a zod response format parse (chat.completions.parse)', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    const parsed = await client.chat.completions.parse({
      model: 'openai/fake-json',
      messages: [{ role: 'user', content: 'as json' }],
      response_format: zodResponseFormat(Weather, 'weather'),
    });
    expect(parsed.choices[0]!.message.parsed).toEqual({ city: 'city-value', celsius: 1 });
    const sent = fake.requests.at(-1)!.body as { response_format: { type: string; json_schema: { name: string; strict: boolean } } };
    expect(sent.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'weather', strict: true } });

    const tooled = await client.chat.completions.parse({
      model: 'openai/fake-tool-call',
      messages: [{ role: 'user', content: 'tool' }],
      tools: [zodFunction({ name: 'lookup', parameters: z.object({ query: z.string() }) })],
    });
    const call = tooled.choices[0]!.message.tool_calls![0] as { function: { parsed_arguments: unknown } };
    expect(call.function.parsed_arguments).toEqual({ query: 'query-value' });
  });

  test('happy: an image (data URL) reaches the model beside the text', async () => {
    const text = uniqueText('look');
    await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
    });
    const sent = upstreamCalls(fake, text)[0]!.body as { messages: { content: unknown[] }[] };
    expect(sent.messages[0]!.content[1]).toEqual({ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } });
  });

  test('happy: aborting a stream cancels the upstream request (B10)', async () => {
    const stream = await client.chat.completions.create({
      model: 'openai/fake-slow',
      messages: [{ role: 'user', content: 'long' }],
      stream: true,
    });
    let chunks = 0;
    for await (const _chunk of stream) if (++chunks === 3) break; // leaving the loop aborts the request
    const upstream = () => fake.requests.find((r) => (r.body as { model?: string })?.model === 'fake-slow');
    await waitUntil(() => upstream()?.aborted === true, 'the upstream request aborted', 3000);
    expect(upstream()!.completed).toBe(false);
  });

  test('happy: aborting a completion that is not streamed cancels the upstream request too', async () => {
    const controller = new AbortController();
    const text = uniqueText('abandoned');
    const pending = client.chat.completions
      .create({ model: 'openai/fake-slow', messages: [{ role: 'user', content: text }] }, { signal: controller.signal })
      .catch((error: unknown) => error);
    await waitUntil(() => upstreamCalls(fake, text).length === 1, 'the upstream request started', 3000);
    controller.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await waitUntil(() => upstreamCalls(fake, text)[0]?.aborted === true, 'the upstream request aborted', 3000);
  });

  test('happy: n 2, created and through the .stream() helper, gives two choices', async () => {
    const created = await client.chat.completions.create({ model: 'echo/echo', messages: [{ role: 'user', content: 'twice over' }], n: 2 });
    expect(created.choices.map((choice) => [choice.index, choice.message.content])).toEqual([
      [0, 'twice over'],
      [1, 'twice over'],
    ]);
    const stream = client.chat.completions.stream({
      model: 'anthropic/claude-haiku-4-5',
      messages: [{ role: 'user', content: 'two' }],
      n: 2,
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices.map((choice) => [choice.index, choice.message.content, choice.finish_reason])).toEqual([
      [0, expectedReply('two'), 'stop'],
      [1, expectedReply('two'), 'stop'],
    ]);
  });

  test('happy: aborting a stream of n 2 cancels both upstream requests', async () => {
    const text = uniqueText('two slow');
    const stream = await client.chat.completions.create({
      model: 'openai/fake-slow',
      messages: [{ role: 'user', content: text }],
      stream: true,
      n: 2,
    });
    let chunks = 0;
    for await (const _chunk of stream) if (++chunks === 3) break;
    await waitUntil(
      () => upstreamCalls(fake, text).length === 2 && upstreamCalls(fake, text).every((call) => call.aborted),
      'both upstream requests aborted',
      3000,
    );
  });

  test('error: a bad key is AuthenticationError 401; an unknown model NotFoundError 404 model_not_found', async () => {
    const stranger = new OpenAI({ apiKey: 'pk_not-a-real-key', baseURL: client.baseURL, maxRetries: 0 });
    const bad = await failure(() => stranger.models.list());
    expect(bad).toBeInstanceOf(OpenAI.AuthenticationError);
    const unknown = await failure(() =>
      client.chat.completions.create({ model: 'echo/other', messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown!.code).toBe('model_not_found');
  });

  test('error: what Parley cannot honour is BadRequestError 400 naming the param', async () => {
    const refused = await failure(() =>
      client.chat.completions.create({ model: 'echo/echo', messages: [{ role: 'user', content: 'x' }], n: 9 }),
    );
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused!.param).toBe('n');
    expect(refused!.type).toBe('invalid_request_error');
  });

  test('error: with the SDK’s default retries an upstream 503 costs Parley’s 3 attempts, not 9 (B3)', async () => {
    const retrying = new OpenAI({ apiKey: server.key, baseURL: server.baseURL });
    const error = await failure(() =>
      retrying.chat.completions.create({ model: 'openai/fake-error-503', messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error!.status).toBe(503);
    expect(fake.requests.filter((r) => (r.body as { model?: string })?.model === 'fake-error-503').length).toBe(3);
  });

  test('error: a stream that fails before its first token throws with the HTTP status (B5)', async () => {
    const error = await failure(async () => {
      const stream = await client.chat.completions.create({
        model: 'openai/fake-error-401',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      for await (const _chunk of stream);
    });
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error!.status).toBe(502);
  });
});
