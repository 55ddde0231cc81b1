// /v1/responses on the wire, below the SDKs: the SSE framing (`event:` named as the data's type,
// numbered), how each ending of a reply is told (completed, incomplete, failed, an empty reply),
// Idempotency-Key replays, a caller that leaves cancelling the reply (stored as cancelled), two
// instances sharing stored responses, and their expiry. The event writer is also driven directly,
// for endings the fake upstream cannot make.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import OpenAI from 'openai';
import type { SseItem } from '../../src/http/sse.ts';
import { echoOf, responseEvents } from '../../src/modules/openai-compat/responses-stream.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { createApiKey, register, uniqueText, waitUntil } from '../helpers/client.ts';
import { bodyOf, llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { expectOpenAiError, type Listening, listeningApp } from '../helpers/openai.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

setDefaultTimeout(60_000);

type WireEvent = { event: string; data: { type: string; sequence_number: number; [key: string]: unknown } };

/** The SSE events of a body: each `event:` line with its JSON `data:` line. */
function eventsOf(text: string): WireEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) };
    });
}

describe('the event writer, on its own', () => {
  const streamId = '01939d3c-7b0a-7c3e-9a1b-0123456789ab';
  const run = (items: [string, object][]) => {
    const format = responseEvents(streamId, { model: 'echo/echo', echo: echoOf({ model: 'echo/echo', input: 'x' }) });
    const decoder = new TextDecoder();
    return eventsOf(
      items.map(([event, data], i) => decoder.decode(format({ id: `1-${i}`, event, data: JSON.stringify(data) } as SseItem))).join(''),
    );
  };
  const start: [string, object] = ['start', { provider: 'openai', model: 'gpt-4o-mini' }];
  const usage = { inputTokens: 3, outputTokens: 2 };

  test('happy: a reply cut at the token limit ends with response.incomplete (max_output_tokens)', () => {
    const events = run([start, ['delta', { text: 'cut ' }], ['done', { finishReason: 'length', usage }]]);
    const last = events.at(-1)!;
    expect(last.event).toBe('response.incomplete');
    expect(last.data.response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      model: 'openai/gpt-4o-mini',
      output: [{ type: 'message', status: 'incomplete', content: [{ type: 'output_text', text: 'cut ' }] }],
      usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    });
  });

  test('happy: a reply that said nothing still answers one empty message; text after a tool call opens a new message', () => {
    const empty = run([start, ['done', { finishReason: 'stop', usage }]]);
    expect(empty.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const mixed = run([
      start,
      ['delta', { text: 'first' }],
      ['tool_call', { index: 0, id: 'call_1', name: 'f', arguments: '{}' }],
      ['delta', { text: 'then' }],
      ['done', { finishReason: 'tool_calls', usage }],
    ]);
    const output = (mixed.at(-1)!.data.response as { output: { id: string; type: string }[] }).output;
    expect(output.map((item) => item.type)).toEqual(['message', 'function_call', 'message']);
    expect(new Set(output.map((item) => item.id)).size).toBe(3);
    expect(mixed.map((e) => e.data.sequence_number)).toEqual(mixed.map((_, i) => i));
  });
});

describe.each(kinds)('/v1/responses on the wire (%s)', (_label, kind) => {
  let fake: FakeUpstream;
  let server: Listening;
  const post = (body: object, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${server.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal,
    });
  beforeAll(async () => {
    fake = await startFakeUpstream({ slowChunkMs: 100 });
    server = await listeningApp(kind, llmEnv(fake));
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });
  beforeEach(() => fake.reset());

  test('happy: each event is named as its data’s type, numbered from 0, and the deltas make the stored text', async () => {
    const response = await post({ model: 'openai/gpt-4o-mini', input: 'wire format', stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = eventsOf(await response.text());
    for (const [i, { event, data }] of events.entries()) {
      expect(data.type).toBe(event);
      expect(data.sequence_number).toBe(i);
    }
    const text = events.flatMap((e) => (e.event === 'response.output_text.delta' ? [e.data.delta as string] : [])).join('');
    const id = (events[0]!.data.response as { id: string }).id;
    const stored = (await (
      await fetch(`${server.baseURL}/responses/${id}`, { headers: { authorization: `Bearer ${server.key}` } })
    ).json()) as {
      output: { content: { text: string }[] }[];
    };
    expect(stored.output[0]!.content[0]!.text).toBe(text);
  });

  test('happy: a repeat with the same Idempotency-Key replays the response, streamed or not, with one upstream call', async () => {
    const text = uniqueText('idempotent');
    const key = { 'idempotency-key': `resp-${text}` };
    const first = await (await post({ model: 'openai/gpt-4o-mini', input: text }, key)).json();
    const again = await post({ model: 'openai/gpt-4o-mini', input: text }, key);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(await again.json()).toEqual(first);
    const streamed = uniqueText('idempotent stream');
    const streamKey = { 'idempotency-key': `resp-${streamed}` };
    const once = await (await post({ model: 'openai/gpt-4o-mini', input: streamed, stream: true }, streamKey)).text();
    const twice = await (await post({ model: 'openai/gpt-4o-mini', input: streamed, stream: true }, streamKey)).text();
    // The same events; only a Response's completed_at may say a later second.
    const strip = (body: string) => eventsOf(body).map((e) => JSON.stringify(e).replace(/"completed_at":\d+/, ''));
    expect(strip(twice)).toEqual(strip(once));
    expect(upstreamCalls(fake, text)).toHaveLength(1);
    expect(upstreamCalls(fake, streamed)).toHaveLength(1);
  });

  test('happy: request fields reach upstream in its words (tools narrowed, parallel calls, json_object, effort, token limit)', async () => {
    const text = uniqueText('fields');
    const fn = (name: string) => ({ type: 'function', name, parameters: { type: 'object', properties: {} } });
    const response = await post({
      model: 'openai/gpt-4o-mini',
      input: text,
      tools: [fn('a'), fn('b')],
      tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'b' }] },
      parallel_tool_calls: false,
      text: { format: { type: 'json_object' }, verbosity: 'low' },
      reasoning: { effort: 'low', summary: 'auto' },
      max_output_tokens: 64,
      top_p: 0.5,
      user: 'end-user-1',
    });
    expect(response.status).toBe(200);
    const sent = bodyOf(upstreamCalls(fake, text)[0]!) as Record<string, unknown>;
    expect((sent.tools as { function: { name: string } }[]).map((tool) => tool.function.name)).toEqual(['b']);
    expect(sent).toMatchObject({
      tool_choice: 'auto',
      parallel_tool_calls: false,
      response_format: { type: 'json_object' },
      reasoning_effort: 'low',
      max_completion_tokens: 64,
      top_p: 0.5,
      user: 'end-user-1',
    });
  });

  test('error: what cannot be honoured is OpenAI’s 400 naming the field, and nothing reaches upstream', async () => {
    const fn = { type: 'function', name: 'a' };
    const cases: [object, string][] = [
      [{ input: 'x', tools: [fn], tool_choice: { type: 'function', name: 'other' } }, 'tool_choice'],
      [{ input: 'x', tool_choice: 'required' }, 'tool_choice'],
      [{ input: 'x', tools: [fn], tool_choice: { type: 'web_search_preview' } }, 'tool_choice'],
      [{ input: 'x', tools: [{ type: 'file_search', vector_store_ids: ['v'] }] }, 'tools[0]'],
      [{ input: 'x', conversation: 'conv_1' }, 'conversation'],
      [{ input: 'x', prompt: { id: 'pmpt_1' } }, 'prompt'],
      [{}, 'input'],
      [{ input: [{ type: 'web_search_call', id: 'ws_1' }] }, 'input[0].type'],
      [
        {
          input: [
            { role: 'user', content: 'x' },
            { type: 'function_call', name: 'f', arguments: '{}' },
          ],
        },
        'input[1].call_id',
      ],
      [{ input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
      [{ input: 5 }, 'input'],
      [{ input: 'x', previous_response_id: 'resp_0123' }, 'previous_response_id'],
    ];
    for (const [body, param] of cases) {
      const response = await post({ model: 'openai/gpt-4o-mini', ...body });
      const status = param === 'previous_response_id' ? 404 : 400;
      await expectOpenAiError(response, status, 'invalid_request_error', { param });
    }
    expect(fake.requests.filter((request) => request.path === '/v1/chat/completions')).toEqual([]);
  });

  test('error: an image for a model that takes none is refused naming its part, or the previous response that holds it', async () => {
    const image = { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' };
    const withImage = [{ role: 'user', content: [{ type: 'input_text', text: 'see' }, image] }];
    await expectOpenAiError(await post({ model: 'openai/gpt-3.5-turbo', input: withImage }), 400, 'invalid_request_error', {
      param: 'input[0].content[1]',
    });
    const seen = (await (await post({ model: 'openai/gpt-4o-mini', input: withImage })).json()) as { id: string };
    const continued = await post({ model: 'openai/gpt-3.5-turbo', previous_response_id: seen.id, input: 'and now?' });
    await expectOpenAiError(continued, 400, 'invalid_request_error', { param: 'previous_response_id' });
  });

  test('happy: a caller that leaves mid-stream cancels the reply, which is stored as cancelled', async () => {
    const client = new OpenAI({ apiKey: server.key, baseURL: server.baseURL, maxRetries: 0 });
    const text = uniqueText('left');
    const stream = await client.responses.create({ model: 'openai/fake-slow', input: text, stream: true });
    let id = '';
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.output_text.delta') break; // leaving the loop aborts the request
    }
    await waitUntil(() => upstreamCalls(fake, text)[0]?.aborted === true, 'the upstream request aborted', 3000);
    let status = '';
    await waitUntil(
      async () => {
        const stored = await client.responses.retrieve(id).catch(() => undefined);
        status = stored?.status ?? '';
        return status !== '';
      },
      'the response stored',
      3000,
    );
    expect(status).toBe('cancelled');
  });
});

describe.if(hasPostgres && hasRedis)('two instances behave as one (postgres+redis)', () => {
  let fake: FakeUpstream;
  let a: TestApp;
  let b: TestApp;
  let key: string;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    a = await createTestApp({ database: 'postgres', kv: 'redis' }, llmEnv(fake));
    b = await createSecondInstance(a, llmEnv(fake));
    const account = await register(a);
    key = (await createApiKey(a, account.accessToken, { name: 'two' })).key;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await fake?.stop();
  });

  test('happy: a response streamed by one instance is read, continued and deleted on the other', async () => {
    const headers = { authorization: `Bearer ${key}` };
    const streamed = await a.request('/v1/responses', {
      method: 'POST',
      headers,
      json: { model: 'openai/gpt-4o-mini', input: 'on instance a', stream: true },
    });
    const events = eventsOf(await streamed.text());
    const id = (events.at(-1)!.data.response as { id: string }).id;
    expect(events.at(-1)!.event).toBe('response.completed');
    const read = await b.request(`/v1/responses/${id}`, { headers });
    expect(((await read.json()) as { status: string }).status).toBe('completed');
    const text = uniqueText('on instance b');
    const continued = await b.request('/v1/responses', {
      method: 'POST',
      headers,
      json: { model: 'openai/gpt-4o-mini', previous_response_id: id, input: text },
    });
    expect(continued.status).toBe(200);
    expect(bodyOf(upstreamCalls(fake, text)[0]!).messages?.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect((await b.request(`/v1/responses/${id}`, { method: 'DELETE', headers })).status).toBe(200);
    expect((await a.request(`/v1/responses/${id}`, { headers })).status).toBe(404);
  });
});

describe.each(kinds)('stored responses expire (%s)', (_label, kind) => {
  let fake: FakeUpstream;
  let server: Listening;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    server = await listeningApp(kind, llmEnv(fake, { RESPONSES_TTL_SECONDS: '1' }));
    client = new OpenAI({ apiKey: server.key, baseURL: server.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  test('happy: after RESPONSES_TTL_SECONDS a response is gone (read, continue), and housekeeping removes its row', async () => {
    const created = await client.responses.create({ model: 'echo/echo', input: 'short-lived' });
    expect((await client.responses.retrieve(created.id)).output_text).toBe('short-lived');
    await Bun.sleep(1100);
    expect(await client.responses.retrieve(created.id).catch((error: { status: number }) => error)).toMatchObject({ status: 404 });
    const continued = await client.responses
      .create({ model: 'echo/echo', previous_response_id: created.id, input: 'x' })
      .catch((error: { status: number }) => error);
    expect(continued).toMatchObject({ status: 404 });
    const removed = await server.app.services.housekeeping.runNow();
    expect(removed.responses).toBe(1);
    expect((await server.app.services.housekeeping.runNow()).responses).toBe(0);
  });
});
