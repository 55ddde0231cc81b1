// OpenAI's Responses API on Parley, through the official openai SDK's public API, with the fake
// upstreams behind it (OpenAI's and Anthropic's wire formats, and echo): responses.create (text,
// instructions, function tools round the loop, json_schema text format), the responses.stream()
// helper and `stream: true` iteration, previous_response_id and item_reference over stored
// responses, retrieve and delete, owner-only access, store: false, failed responses and refusals in
// OpenAI's shape. (Expiry: responses-wire.test.ts.)
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { expectedReasoning, expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { createApiKey, register, uniqueText } from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

/** An SDK call's failure (the SDK's promises are lazy: expect().rejects does not drive them). */
const failure = (work: () => Promise<unknown>) =>
  work().then(
    () => undefined,
    (error: InstanceType<typeof OpenAI.APIError>) => error,
  );

const weather: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

/** The turns upstream saw for the request whose last user turn is `text`, as [role, text] pairs (system first when sent). */
function upstreamTurns(text: string): [string, string][] {
  const [call] = upstreamCalls(fake, text);
  expect(call).toBeDefined();
  const body = bodyOf(call!);
  const system: [string, string][] = typeof body.system === 'string' ? [['system', body.system]] : [];
  return [...system, ...(body.messages ?? []).map((m): [string, string] => [m.role, textOfContent(m.content)])];
}

describe.each(kinds)('Responses API through the openai SDK (%s)', (_label, kind) => {
  let server: Listening;
  let client: OpenAI;

  beforeAll(async () => {
    server = await listeningApp(kind, llmEnv(fake));
    client = new OpenAI({ apiKey: server.key, baseURL: server.baseURL, maxRetries: 0 });
  });
  afterAll(() => server?.close());
  beforeEach(() => fake.reset());

  test('happy: responses.create with instructions answers a Response the SDK reads (output_text, usage, ids)', async () => {
    const text = uniqueText('create');
    const response = await client.responses.create({ model: 'openai/gpt-4o-mini', instructions: 'Be brief.', input: text });
    expect(response.object).toBe('response');
    expect(response.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(response.status).toBe('completed');
    expect(response.model).toBe('openai/gpt-4o-mini');
    expect(response.output_text).toBe(expectedReply(text));
    expect(response.output).toHaveLength(1);
    expect(response.output[0]).toMatchObject({
      type: 'message',
      role: 'assistant',
      status: 'completed',
      id: expect.stringMatching(/^msg_/),
    });
    expect(response.usage).toMatchObject({ input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } });
    expect(response.usage!.output_tokens).toBeGreaterThan(0);
    expect(response.usage!.total_tokens).toBe(response.usage!.input_tokens + response.usage!.output_tokens);
    expect(response.instructions).toBe('Be brief.');
    expect((response as unknown as { store: boolean }).store).toBe(true);
    expect(upstreamTurns(text)).toEqual([
      ['system', 'Be brief.'],
      ['user', text],
    ]);
  });

  test('happy: the echo provider, and message items with parts, system and developer text', async () => {
    const response = await client.responses.create({
      model: 'echo/echo',
      input: [
        { role: 'developer', content: 'rules' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'say ' },
            { type: 'input_text', text: 'this back' },
          ],
        },
      ],
      temperature: 0.2,
      top_p: 0.9,
      max_output_tokens: 100,
      metadata: { run: '1' },
      user: 'end-user',
      include: ['message.output_text.logprobs'],
      truncation: 'auto',
      service_tier: 'auto',
    });
    expect(response.output_text).toBe('say this back');
    expect(response).toMatchObject({ temperature: 0.2, top_p: 0.9, max_output_tokens: 100, metadata: { run: '1' } });
  });

  test('happy: a function tool round trip: the call, then its function_call_output, then the answer (previous_response_id)', async () => {
    const first = await client.responses.create({ model: 'openai/fake-tool-call', input: 'weather in Paris?', tools: [weather] });
    const call = first.output.find((item) => item.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({
      name: 'get_weather',
      arguments: '{"city":"city-value"}',
      status: 'completed',
      id: expect.stringMatching(/^fc_/),
    });
    expect(first.output_text).toBe('');
    const second = await client.responses.create({
      model: 'openai/fake-tool-call',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
      tools: [weather],
    });
    expect(second.output_text).toBe(expectedReply('tool result: sunny'));
    expect(second.previous_response_id).toBe(first.id);
  });

  test('happy: the same round trip without storing, the call sent back as an item, from Anthropic', async () => {
    const question = { role: 'user' as const, content: 'weather in Rome?' };
    const first = await client.responses.create({ model: 'anthropic/fake-tool-call', input: [question], tools: [weather], store: false });
    const call = first.output.find((item) => item.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call.call_id).toBeTruthy();
    const second = await client.responses.create({
      model: 'anthropic/fake-tool-call',
      input: [question, call, { type: 'function_call_output', call_id: call.call_id, output: 'rain' }],
      tools: [weather],
      store: false,
    });
    expect(second.output_text).toBe(expectedReply('tool result: rain'));
    expect(await failure(() => client.responses.retrieve(first.id))).toMatchObject({ status: 404 });
  });

  test('happy: a json_schema text format parses (responses.parse with zodTextFormat)', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    const parsed = await client.responses.parse({
      model: 'openai/fake-json',
      input: 'as json',
      text: { format: zodTextFormat(Weather, 'weather') },
    });
    expect(parsed.output_parsed).toEqual({ city: 'city-value', celsius: 1 });
    const sent = fake.requests.at(-1)!.body as { response_format: unknown };
    expect(sent.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'weather', strict: true } });
  });

  test('happy: the responses.stream() helper gives the deltas and puts the final response together', async () => {
    const text = uniqueText('helper');
    const stream = client.responses.stream({ model: 'anthropic/claude-haiku-4-5', input: text });
    let deltas = '';
    stream.on('response.output_text.delta', (event) => {
      deltas += event.delta;
    });
    const final = await stream.finalResponse();
    expect(deltas).toBe(expectedReply(text));
    expect(final.output_text).toBe(expectedReply(text));
    expect(final.status).toBe('completed');
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
    // Stored as it was streamed.
    const stored = await client.responses.retrieve(final.id);
    expect(stored.output_text).toBe(expectedReply(text));
    expect(stored.output.map((item) => item.id)).toEqual(final.output.map((item) => item.id));
  });

  test('happy: a model’s thinking is a reasoning item before the message, streamed or not, and never goes back upstream', async () => {
    const text = uniqueText('think');
    const stream = client.responses.stream({ model: 'anthropic/fake-reasoning', input: text });
    let thought = '';
    stream.on('response.reasoning_summary_text.delta', (event) => {
      thought += event.delta;
    });
    const final = await stream.finalResponse();
    expect(thought).toBe(expectedReasoning(text));
    expect(final.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    const reasoning = final.output[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(reasoning.id).toMatch(/^rs_/);
    expect(reasoning.summary).toEqual([{ type: 'summary_text', text: expectedReasoning(text) }]);
    expect(final.output_text).toBe(expectedReply(text));
    const plain = await client.responses.create({ model: 'openai/fake-reasoning', input: text });
    expect(plain.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect((plain.output[0] as OpenAI.Responses.ResponseReasoningItem).summary[0]!.text).toBe(expectedReasoning(text));
    const next = uniqueText('after thinking');
    await client.responses.create({
      model: 'openai/gpt-4o-mini',
      previous_response_id: final.id,
      input: [
        { type: 'item_reference', id: reasoning.id },
        { role: 'user', content: next },
      ],
    });
    expect(upstreamTurns(next)).toEqual([
      ['user', text],
      ['assistant', expectedReply(text)],
      ['user', next],
    ]);
  });

  test('happy: stream: true gives OpenAI’s events in order, numbered, with function calls (two at once)', async () => {
    const time: OpenAI.Responses.FunctionTool = {
      type: 'function',
      name: 'get_time',
      parameters: { type: 'object', properties: {} },
      strict: null,
    };
    const stream = await client.responses.create({
      model: 'openai/fake-parallel-tool-calls',
      input: 'both',
      tools: [weather, time],
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.map((event): string => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      ...[0, 1].flatMap(() => [
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
      ]),
      'response.completed',
    ]);
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.output.map((item) => (item as OpenAI.Responses.ResponseFunctionToolCall).name)).toEqual([
      'get_weather',
      'get_time',
    ]);
    const helper = await client.responses
      .stream({ model: 'openai/fake-parallel-tool-calls', input: 'both again', tools: [weather, time] })
      .finalResponse();
    expect(helper.output.map((item) => item.type)).toEqual(['function_call', 'function_call']);
  });

  test('happy: previous_response_id continues the stored conversation; instructions are not carried over', async () => {
    const one = uniqueText('first turn');
    const first = await client.responses.create({ model: 'openai/gpt-4o-mini', instructions: 'Old rules.', input: one });
    const two = uniqueText('second turn');
    const second = await client.responses.create({ model: 'anthropic/claude-haiku-4-5', previous_response_id: first.id, input: two });
    expect(second.output_text).toBe(expectedReply(two));
    expect(upstreamTurns(two)).toEqual([
      ['user', one],
      ['assistant', expectedReply(one)],
      ['user', two],
    ]);
    const three = uniqueText('third turn');
    await client.responses.create({ model: 'echo/echo', previous_response_id: second.id, input: three, instructions: 'New rules.' });
    // The chain goes on through the second response (echo answers without the fake: its reply is the text).
    const fourth = uniqueText('fourth turn');
    const last = await client.responses.create({ model: 'openai/gpt-4o-mini', previous_response_id: second.id, input: fourth });
    expect(last.output_text).toBe(expectedReply(fourth));
    expect(upstreamTurns(fourth).map(([role]) => role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
  });

  test('happy: an item_reference to a stored output item is taken as that item', async () => {
    const one = uniqueText('referenced');
    const first = await client.responses.create({ model: 'openai/gpt-4o-mini', input: one });
    const two = uniqueText('after the reference');
    await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: [
        { role: 'user', content: one },
        { type: 'item_reference', id: first.output[0]!.id! },
        { role: 'user', content: two },
      ],
    });
    expect(upstreamTurns(two)).toEqual([
      ['user', one],
      ['assistant', expectedReply(one)],
      ['user', two],
    ]);
  });

  test('happy: an item_reference to a stored function call, then its output, gets the answer', async () => {
    const question = { role: 'user' as const, content: 'weather by reference?' };
    const first = await client.responses.create({ model: 'openai/fake-tool-call', input: [question], tools: [weather] });
    const call = first.output.find((item) => item.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    const second = await client.responses.create({
      model: 'openai/fake-tool-call',
      input: [question, { type: 'item_reference', id: call.id! }, { type: 'function_call_output', call_id: call.call_id, output: 'hail' }],
      tools: [weather],
      store: false,
    });
    expect(second.output_text).toBe(expectedReply('tool result: hail'));
    const missing = await failure(() =>
      client.responses.create({ model: 'echo/echo', input: [{ type: 'item_reference', id: `${call.id}9` }] }),
    );
    expect(missing).toMatchObject({ status: 404, param: 'input[0]' });
  });

  test('happy: an input_image (data URL) reaches the model beside the text', async () => {
    const text = uniqueText('look');
    await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text },
            { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'auto' },
          ],
        },
      ],
    });
    const sent = upstreamCalls(fake, text)[0]!.body as { messages: { content: unknown[] }[] };
    expect(sent.messages[0]!.content[1]).toEqual({ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } });
  });

  test('happy: retrieve answers the stored response; delete removes it for good', async () => {
    const created = await client.responses.create({ model: 'echo/echo', input: 'keep me' });
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved).toEqual(created);
    const deleted = await client.responses.delete(created.id);
    expect(deleted as unknown).toEqual({ id: created.id, object: 'response.deleted', deleted: true });
    expect(await failure(() => client.responses.retrieve(created.id))).toMatchObject({ status: 404 });
    expect(await failure(() => client.responses.delete(created.id))).toMatchObject({ status: 404 });
    const continued = await failure(() => client.responses.create({ model: 'echo/echo', previous_response_id: created.id, input: 'x' }));
    expect(continued).toMatchObject({ status: 404, param: 'previous_response_id', code: 'not_found' });
  });

  test('security: another user’s response is 404 to read, delete, continue or reference, and stays theirs', async () => {
    const created = await client.responses.create({ model: 'echo/echo', input: 'private' });
    const other = await register(server.app);
    const stranger = new OpenAI({
      apiKey: (await createApiKey(server.app, other.accessToken, { name: 'other' })).key,
      baseURL: server.baseURL,
      maxRetries: 0,
    });
    expect(await failure(() => stranger.responses.retrieve(created.id))).toMatchObject({ status: 404 });
    expect(await failure(() => stranger.responses.delete(created.id))).toMatchObject({ status: 404 });
    expect(
      await failure(() => stranger.responses.create({ model: 'echo/echo', previous_response_id: created.id, input: 'x' })),
    ).toMatchObject({
      status: 404,
      param: 'previous_response_id',
    });
    const reference = await failure(() =>
      stranger.responses.create({ model: 'echo/echo', input: [{ type: 'item_reference', id: created.output[0]!.id! }] }),
    );
    expect(reference).toMatchObject({ status: 404, param: 'input[0]' });
    expect((await client.responses.retrieve(created.id)).output_text).toBe('private');
  });

  test('error: built-in tools, background and unknown models are refused in OpenAI’s shape, naming the field', async () => {
    const builtIn = await failure(() =>
      client.responses.create({ model: 'echo/echo', input: 'x', tools: [weather, { type: 'web_search' } as never] }),
    );
    expect(builtIn).toMatchObject({ status: 400, param: 'tools[1]', type: 'invalid_request_error' });
    expect(await failure(() => client.responses.create({ model: 'echo/echo', input: 'x', background: true }))).toMatchObject({
      status: 400,
      param: 'background',
    });
    expect(await failure(() => client.responses.create({ model: 'echo/nope', input: 'x' }))).toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    const file = await failure(() =>
      client.responses.create({
        model: 'echo/echo',
        input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }],
      }),
    );
    expect(file).toMatchObject({ status: 400, param: 'input[0].content[0]' });
    const imageOutput = await failure(() =>
      client.responses.create({
        model: 'echo/echo',
        input: [
          { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
          { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_image', image_url: 'https://example.com/x.png' }] },
        ],
      }),
    );
    expect(imageOutput).toMatchObject({ status: 400, param: 'input[1].output[0]' });
    expect(await failure(() => client.responses.retrieve('resp_nope'))).toMatchObject({ status: 404, code: 'not_found' });
  });

  test('error: an upstream failure before the first token is the HTTP error, streamed or not', async () => {
    fake.failNext(1, 400);
    expect(await failure(() => client.responses.create({ model: 'openai/gpt-4o-mini', input: 'refused' }))).toMatchObject({ status: 400 });
    fake.failNext(1, 400);
    expect(await failure(() => client.responses.create({ model: 'openai/gpt-4o-mini', input: 'refused', stream: true }))).toMatchObject({
      status: 400,
    });
  });

  test('error: a failure mid-stream ends with response.failed; the response is stored as failed and cannot be continued', async () => {
    const stream = await client.responses.create({ model: 'openai/fake-mid-stream-error', input: 'fail midway', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const failed = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
    expect(failed.type).toBe('response.failed');
    expect(failed.response.status).toBe('failed');
    expect(failed.response.error?.code).toBe('server_error');
    expect(events.some((event) => event.type === 'response.output_text.delta')).toBe(true);
    const stored = await client.responses.retrieve(failed.response.id);
    expect(stored.status).toBe('failed');
    expect(stored.error?.code).toBe('server_error');
    const continued = await failure(() =>
      client.responses.create({ model: 'echo/echo', previous_response_id: failed.response.id, input: 'go on' }),
    );
    expect(continued).toMatchObject({ status: 400, param: 'previous_response_id' });
  });

  test('happy: replies holding NUL and lone surrogates are stored, read back and continued', async () => {
    const response = await client.responses.create({ model: 'openai/fake-lone-surrogate', input: 'odd text' });
    const stored = await client.responses.retrieve(response.id);
    expect(stored.output_text).toBe(response.output_text);
    const next = await client.responses.create({ model: 'openai/fake-nul', previous_response_id: response.id, input: 'more' });
    expect((await client.responses.retrieve(next.id)).output_text).toBe(next.output_text);
  });
});
