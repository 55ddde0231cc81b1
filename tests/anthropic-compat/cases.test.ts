// /v1/messages in process (app.handle), for what the SDK suites do not reach: how each request
// field reaches the OpenAI and Anthropic upstreams, what is refused and how (Anthropic's error
// shape and statuses, request-id), the caller's API key limits, and Idempotency-Key replays.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, type Json, readJson, register, uniqueText } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const weather = { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } };
const PNG = { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' };

/** Asserts Anthropic's error body `{type: "error", error: {type, message}}` with `status` and `type`; returns the message. */
async function expectAnthropicError(response: Response, status: number, type: string): Promise<string> {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  const body = JSON.parse(text);
  expect(Object.keys(body).sort()).toEqual(['error', 'type']);
  expect(body.type).toBe('error');
  expect(Object.keys(body.error).sort()).toEqual(['message', 'type']);
  expect(body.error.type).toBe(type);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
  return body.error.message;
}

describe.each(kinds)('/v1/messages request cases (%s)', (_label, kind) => {
  let app: TestApp;
  let key: string;
  let accessToken: string;

  beforeAll(async () => {
    app = await createTestApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '0' }));
    const account = await register(app);
    accessToken = account.accessToken;
    key = (await createApiKey(app, accessToken, { name: 'cases' })).key;
  });
  afterAll(() => app?.close());
  beforeEach(() => fake.reset());

  const send = (body: unknown, headers: Record<string, string> = { 'x-api-key': key }, path = '/v1/messages') =>
    app.request(path, { method: 'POST', headers: { 'anthropic-version': '2023-06-01', ...headers }, json: body });
  const ok = async (response: Response): Promise<Json> => {
    const body = await readJson(response);
    expect(`${response.status} ${JSON.stringify(body)}`).toStartWith('200 ');
    return body;
  };
  const lastBody = () => fake.requests.at(-1)!.body as Json;

  test('happy: thinking’s budget is a reasoning effort for the OpenAI upstream; output_config.effort and format reach the Anthropic one', async () => {
    await ok(
      await send({
        model: 'openai/gpt-4o-mini',
        max_tokens: 20_000,
        thinking: { type: 'enabled', budget_tokens: 10_000 },
        messages: [{ role: 'user', content: 'think' }],
      }),
    );
    expect(lastBody().reasoning_effort).toBe('medium');
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    await ok(
      await send({
        model: 'claude/claude-haiku-4-5',
        max_tokens: 64,
        output_config: { effort: 'high', format: { type: 'json_schema', schema } },
        messages: [{ role: 'user', content: 'json' }],
      }),
    );
    expect(fake.requests.at(-1)!.path).toBe('/v1/messages');
    expect(lastBody().output_config).toEqual({ format: { type: 'json_schema', schema }, effort: 'high' });
    await ok(
      await send({
        model: 'openai/gpt-4o-mini',
        max_tokens: 64,
        output_config: { format: { type: 'json_schema', schema } },
        messages: [{ role: 'user', content: 'json' }],
      }),
    );
    expect(lastBody().response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'output', schema } });
  });

  test('happy: tool_choice none and disable_parallel_tool_use reach the Anthropic upstream; an is_error result goes as Error: …', async () => {
    await ok(
      await send({
        model: 'anthropic/claude-haiku-4-5',
        max_tokens: 64,
        tools: [weather],
        tool_choice: { type: 'none' },
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(lastBody().tool_choice).toEqual({ type: 'none' });
    await ok(
      await send({
        model: 'anthropic/claude-haiku-4-5',
        max_tokens: 64,
        tools: [weather],
        tool_choice: { type: 'auto', disable_parallel_tool_use: true },
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(lastBody().tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    const answered = await ok(
      await send({
        model: 'openai/fake-tool-call',
        max_tokens: 64,
        tools: [weather],
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'boom', is_error: true }] },
        ],
      }),
    );
    expect(answered.content).toEqual([{ type: 'text', text: expectedReply('tool result: Error: boom') }]);
    const sent = lastBody().messages as Json[];
    expect(sent.at(-2)).toMatchObject({
      role: 'assistant',
      tool_calls: [{ id: 'toolu_1', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
    });
  });

  test('happy: an assistant turn’s thinking blocks are not sent upstream; a turn of tool results and text is both', async () => {
    const text = uniqueText('after');
    await ok(
      await send({
        model: 'anthropic/claude-haiku-4-5',
        max_tokens: 64,
        tools: [weather],
        messages: [
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 'sig' },
              { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_2', content: 'rain' },
              { type: 'text', text },
            ],
          },
        ],
      }),
    );
    const sent = upstreamCalls(fake, text)[0]!.body as { messages: Json[] };
    expect(sent.messages[1]!.content).toEqual([{ type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} }]);
    expect(sent.messages.slice(2)).toEqual([
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'rain' }] },
      { role: 'user', content: text },
    ]);
  });

  test('error: what cannot be honoured is 400 invalid_request_error naming the field, and nothing is sent upstream', async () => {
    const base = { model: 'anthropic/claude-haiku-4-5', max_tokens: 16 };
    const cases: [unknown, string][] = [
      [
        { ...base, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: [{ role: 'user', content: 'x' }] },
        'tools.0.type',
      ],
      [
        { ...base, mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'm' }], messages: [{ role: 'user', content: 'x' }] },
        'mcp_servers',
      ],
      [{ ...base, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'x' }] }, 'tool_choice'],
      [
        {
          ...base,
          messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: PNG }] }] }],
        },
        'messages.0.content.0.content.0',
      ],
      [{ ...base, messages: [{ role: 'assistant', content: [{ type: 'image', source: PNG }] }] }, 'messages.0.content.0'],
      [{ ...base, messages: [{ role: 'user', content: [] }] }, 'messages'],
      [{ ...base, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages.0.content'],
      [{ ...base, max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }, 'max_tokens'],
      [
        {
          model: 'openai/gpt-3.5-turbo',
          max_tokens: 8,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'x' },
                { type: 'image', source: PNG },
              ],
            },
          ],
        },
        'messages.0.content.1',
      ],
    ];
    for (const [body, field] of cases) {
      const message = await expectAnthropicError(await send(body), 400, 'invalid_request_error');
      expect(message).toContain(field);
    }
    expect(fake.requests).toEqual([]);
  });

  test('error: bad JSON is 400, a body past 1 MiB 413 request_too_large, no credentials 401 authentication_error', async () => {
    const broken = await app.request('/v1/messages', {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: '{"model":',
    });
    await expectAnthropicError(broken, 400, 'invalid_request_error');
    const large = await send({ model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] });
    await expectAnthropicError(large, 413, 'request_too_large');
    await expectAnthropicError(await send({ model: 'echo/echo', max_tokens: 8, messages: [] }, {}), 401, 'authentication_error');
    await expectAnthropicError(
      await send({ model: 'echo/echo', messages: [] }, { 'x-api-key': 'garbage' }, '/v1/messages/count_tokens'),
      401,
      'authentication_error',
    );
    await expectAnthropicError(await send({}, { 'x-api-key': key }, '/v1/messages/nothing'), 404, 'not_found_error');
  });

  test('error: upstream’s refusal of the request stays the client’s 400 with upstream’s message; its 503 is 503 api_error', async () => {
    await expectAnthropicError(
      await send({ model: 'anthropic/fake-error-400', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      400,
      'invalid_request_error',
    );
    const unavailable = await send({ model: 'openai/fake-error-503', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
    expect(unavailable.headers.get('x-should-retry') ?? unavailable.headers.get('retry-after')).not.toBeNull();
    await expectAnthropicError(unavailable, 503, 'api_error');
  });

  test('error: the key’s limits hold: a model it may not use is 403 permission_error (count_tokens too), its calls per minute 429 rate_limit_error', async () => {
    const limited = (await createApiKey(app, accessToken, { name: 'limited', allowedModels: ['echo/*'], requestsPerMinute: 1 })).key;
    const headers = { 'x-api-key': limited };
    await expectAnthropicError(
      await send({ model: 'openai/gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }, headers),
      403,
      'permission_error',
    );
    await expectAnthropicError(
      await send({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, headers, '/v1/messages/count_tokens'),
      403,
      'permission_error',
    );
    await ok(await send({ model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'once' }] }, headers));
    await expectAnthropicError(
      await send({ model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'twice' }] }, headers),
      429,
      'rate_limit_error',
    );
    expect(fake.requests).toEqual([]);
  });

  test('happy: a repeat with the same Idempotency-Key replays the Message, or the stream byte for byte, without a second upstream call', async () => {
    const text = uniqueText('replayed');
    const body = { model: 'openai/gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: text }] };
    const headers = { ...bearer(key), 'idempotency-key': crypto.randomUUID() };
    const first = await ok(await send(body, headers));
    const again = await send(body, headers);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(await ok(again)).toEqual(first);

    const streamed = { ...body, stream: true, messages: [{ role: 'user', content: `${text} streamed` }] };
    const streamHeaders = { ...bearer(key), 'idempotency-key': crypto.randomUUID() };
    const one = await (await send(streamed, streamHeaders)).text();
    const two = await send(streamed, streamHeaders);
    expect(two.headers.get('idempotency-replayed')).toBe('true');
    expect(await two.text()).toBe(one);
    expect(one).toContain('event: message_stop');
    expect(upstreamCalls(fake, text)).toHaveLength(1);
    expect(upstreamCalls(fake, `${text} streamed`)).toHaveLength(1);
  });
});

describe('/v1/messages from a browser', () => {
  test('happy: a CORS preflight from an allowed origin may send x-api-key and anthropic-version, and read request-id', async () => {
    const app = await createTestApp(undefined, { ...llmEnv(fake), CORS_ORIGINS: 'https://app.example' });
    try {
      const preflight = await app.request('/v1/messages', {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-api-key,anthropic-version,content-type',
        },
      });
      const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const header of ['x-api-key', 'anthropic-version', 'content-type']) expect(allowed).toContain(header);
      const account = await register(app);
      const { key } = await createApiKey(app, account.accessToken, { name: 'browser' });
      const response = await app.request('/v1/messages', {
        method: 'POST',
        headers: { origin: 'https://app.example', 'x-api-key': key },
        json: { model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] },
      });
      expect(response.status).toBe(200);
      expect((response.headers.get('access-control-expose-headers') ?? '').toLowerCase()).toContain('request-id');
    } finally {
      await app.close();
    }
  });
});
