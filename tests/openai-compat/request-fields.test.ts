// POST /v1/chat/completions takes the request fields OpenAI documents, through the public API on
// every storage kind. An explicit `null` means "the default", as in OpenAI's API (bug report case
// #6). The standard fields are accepted (case #7): those an upstream understands are sent on
// (OpenAI-compatible upstreams get top_p, stop, seed, the penalties, response_format and user;
// Anthropic gets stop as stop_sequences and nothing its API refuses), harmless ones are ignored,
// and only a value Parley cannot honour is refused, with OpenAI's 400 naming the field in `param`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, type RecordedRequest, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, type Json, readJson, register, uniqueText } from '../helpers/client.ts';
import { llmEnv, upstreamCalls, wordCount } from '../helpers/llm.ts';
import { completionChunks, expectOpenAiError } from '../helpers/openai.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

/** Every optional field of case #6 (and the rest of OpenAI's optional fields), each sent as null. */
const NULLABLE_FIELDS = [
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'stream',
  'stream_options',
  'stop',
  'seed',
  'n',
  'user',
  'presence_penalty',
  'frequency_penalty',
  'response_format',
  'logprobs',
  'top_logprobs',
  'logit_bias',
  'metadata',
  'store',
  'service_tier',
  'reasoning_effort',
  'modalities',
  'prediction',
  'verbosity',
  'safety_identifier',
  'prompt_cache_key',
];

/** One standard value of each field of case #7; all of them are accepted. */
const STANDARD_FIELDS: [string, unknown][] = [
  ['top_p', 1],
  ['top_p', 0.9],
  ['user', 'u-1'],
  ['stop', '\n'],
  ['stop', ['\n']],
  ['stop', ['a', 'b', 'c', 'd']],
  ['n', 1],
  ['presence_penalty', 0],
  ['presence_penalty', -2],
  ['frequency_penalty', 2],
  ['seed', 7],
  ['seed', -42],
  ['temperature', 0],
  ['max_completion_tokens', 50],
  ['response_format', { type: 'text' }],
  ['response_format', { type: 'json_object' }],
  ['response_format', { type: 'json_schema', json_schema: { name: 'answer' } }],
  [
    'response_format',
    {
      type: 'json_schema',
      json_schema: {
        name: 'answer_v2',
        description: 'the answer',
        strict: true,
        schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false },
      },
    },
  ],
  ['logprobs', false],
  ['top_logprobs', 0],
  ['top_logprobs', 20],
  ['logit_bias', { '50256': -100, '15496': 5 }],
  ['metadata', { team: 'search', run: '42' }],
  ['store', false],
  ['store', true],
  ['service_tier', 'auto'],
  ['service_tier', 'flex'],
  ['parallel_tool_calls', false],
  ['reasoning_effort', 'low'],
  ['modalities', ['text']],
  ['prediction', { type: 'content', content: 'hi' }],
  ['stream_options', { include_usage: true, include_obfuscation: false }],
  ['verbosity', 'low'],
  ['safety_identifier', 'hashed-user-1'],
  ['prompt_cache_key', 'cache-1'],
];

/** What an OpenAI-compatible upstream is to receive, and what Anthropic's is to receive of it. */
const SAMPLING = {
  top_p: 0.9,
  stop: ['END', '\n'],
  seed: 7,
  presence_penalty: 0.5,
  frequency_penalty: -0.5,
  response_format: {
    type: 'json_schema',
    json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { text: { type: 'string' } } } },
  },
  user: 'u-1',
  reasoning_effort: 'low',
};
/** Accepted and ignored: none of them reaches any upstream (parallel_tool_calls goes only with tools). */
const IGNORED = {
  n: 1,
  metadata: { team: 'search' },
  store: true,
  service_tier: 'auto',
  logit_bias: { '50256': -100 },
  top_logprobs: 0,
  logprobs: false,
  parallel_tool_calls: true,
  modalities: ['text'],
  prediction: { type: 'content', content: 'x' },
  verbosity: 'low',
  safety_identifier: 'hashed-user-1',
  prompt_cache_key: 'cache-1',
};

describe.each(kinds)('/v1/chat/completions request fields (%s)', (_label, kind) => {
  let app: TestApp;
  let key: string;

  beforeAll(async () => {
    app = await createTestApp(kind, llmEnv(fake));
    const account = await register(app);
    key = (await createApiKey(app, account.accessToken, { name: 'fields' })).key;
  });
  afterAll(() => app?.close());

  const complete = (body: Record<string, unknown>) =>
    app.request('/v1/chat/completions', { method: 'POST', headers: bearer(key), json: body });
  const hi = (fields: Record<string, unknown>) => complete({ model: 'echo/echo', messages: [{ role: 'user', content: 'hi' }], ...fields });
  /** The one generation request upstream got for `text`. */
  const reachedUpstream = (text: string): Record<string, unknown> => {
    const calls: RecordedRequest[] = upstreamCalls(fake, text);
    expect(calls.length).toBe(1);
    return calls[0]!.body as Record<string, unknown>;
  };
  const completeOn = async (model: string, fields: Record<string, unknown>) => {
    const text = uniqueText('fields');
    const response = await complete({ model, messages: [{ role: 'user', content: text }], ...fields });
    const body = await readJson(response);
    expect(`${response.status} ${JSON.stringify(body)}`).toStartWith('200 ');
    return { completion: body, upstream: reachedUpstream(text) };
  };
  /** The field OpenAI's 400 names in `param`. */
  const refusedParam = async (response: Response): Promise<string | null> =>
    (await expectOpenAiError(response, 400, 'invalid_request_error')).error.param;

  describe('null means the default (case #6)', () => {
    test.each(NULLABLE_FIELDS)('happy: %s: null is treated as absent', async (field) => {
      const response = await hi({ [field]: null });
      const body = await readJson(response);
      expect(`${response.status} ${JSON.stringify(body)}`).toStartWith('200 ');
      expect(body.object).toBe('chat.completion');
      expect(body.choices[0].message.content).toBe('hi');
    });

    test('happy: every optional field null at once is a plain completion', async () => {
      const response = await hi(Object.fromEntries(NULLABLE_FIELDS.map((field) => [field, null])));
      const body = await readJson(response);
      expect(response.status).toBe(200);
      expect(body.choices[0].message.content).toBe('hi');
      expect(body.choices[0].finish_reason).toBe('stop');
    });

    test('happy: nulls are not sent upstream; max_tokens null is the configured default', async () => {
      const { completion, upstream } = await completeOn(
        'openai/gpt-4o-mini',
        Object.fromEntries(NULLABLE_FIELDS.map((field) => [field, null])),
      );
      expect(completion.choices[0].finish_reason).toBe('stop');
      expect(upstream.max_tokens).toBe(1000); // MAX_TOKENS' default
      expect(typeof upstream.temperature).toBe('number');
      for (const field of ['top_p', 'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'response_format', 'user', 'n'])
        expect(upstream).not.toHaveProperty(field);
    });

    test('happy: stream null answers JSON; stream true with stream_options null streams without a usage chunk', async () => {
      const plain = await hi({ stream: null, stream_options: null });
      expect(plain.headers.get('content-type')).toContain('application/json');
      expect((await readJson(plain)).choices[0].message.content).toBe('hi');

      const streamed = await hi({ stream: true, stream_options: null });
      expect(streamed.status).toBe(200);
      const chunks = await completionChunks(streamed);
      expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('')).toBe('hi');
      expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    });
  });

  describe('standard fields are accepted (case #7)', () => {
    test.each(STANDARD_FIELDS)('happy: %s: %j is accepted on echo/echo', async (field, value) => {
      const response = await hi({ [field]: value });
      const body = await readJson(response);
      expect(`${response.status} ${JSON.stringify(body)}`).toStartWith('200 ');
      expect(body.choices[0].message.content).toBe('hi');
    });

    test('happy: all of them at once, streamed with include_usage and include_obfuscation', async () => {
      const response = await hi({
        ...Object.fromEntries(STANDARD_FIELDS),
        stream: true,
        stream_options: { include_usage: true, include_obfuscation: true },
      });
      expect(response.status).toBe(200);
      const chunks = await completionChunks(response);
      expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('')).toBe('hi');
      expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    });

    test('happy: an OpenAI upstream gets top_p, stop, seed, the penalties, response_format and user; nothing of the ignored fields', async () => {
      const { completion, upstream } = await completeOn('openai/gpt-4o-mini', { ...SAMPLING, ...IGNORED, temperature: 0.2 });
      expect(completion.model).toBe('openai/gpt-4o-mini');
      expect(upstream).toMatchObject({ ...SAMPLING, temperature: 0.2 });
      for (const field of Object.keys(IGNORED)) expect(upstream).not.toHaveProperty(field);
    });

    test('happy: an Ollama upstream (its OpenAI-compatible /v1) gets the same fields', async () => {
      const { upstream } = await completeOn('ollama/llama3', { ...SAMPLING, ...IGNORED });
      expect(upstream.model).toBe('llama3');
      expect(upstream).toMatchObject(SAMPLING);
      for (const field of Object.keys(IGNORED)) expect(upstream).not.toHaveProperty(field);
    });

    test('happy: stop as one string reaches an OpenAI upstream as that sequence; json_object and text formats are sent as given', async () => {
      expect((await completeOn('openai/gpt-4o-mini', { stop: 'END' })).upstream.stop).toEqual(['END']);
      const jsonObject = await completeOn('openai/gpt-4o-mini', { response_format: { type: 'json_object' } });
      expect(jsonObject.upstream.response_format).toEqual({ type: 'json_object' });
      const text = await completeOn('openai/gpt-4o-mini', { response_format: { type: 'text' } });
      expect(text.upstream.response_format).toEqual({ type: 'text' });
    });

    test('happy: Anthropic gets stop as stop_sequences (whitespace-only ones left out), and no sampling parameter its API refuses', async () => {
      const { completion, upstream } = await completeOn('anthropic/claude-haiku-4-5', { ...SAMPLING, ...IGNORED, temperature: 0.2 });
      expect(completion.model).toBe('anthropic/claude-haiku-4-5');
      // API version 2026-10-21 (what the SDK sends) answers 400 to temperature, top_p or top_k,
      // and to a stop sequence that is only whitespace; it has no seed, penalties or user.
      expect(upstream.stop_sequences).toEqual(['END']);
      // What it has of the rest: the end-user id as metadata.user_id, the effort and a JSON schema in output_config.
      expect(upstream.metadata).toEqual({ user_id: 'u-1' });
      expect(upstream.output_config).toEqual({
        effort: 'low',
        format: { type: 'json_schema', schema: SAMPLING.response_format.json_schema.schema },
      });
      for (const field of [
        'top_p',
        'top_k',
        'temperature',
        'stop',
        'seed',
        'presence_penalty',
        'frequency_penalty',
        'response_format',
        'user',
        'reasoning_effort',
      ])
        expect(upstream).not.toHaveProperty(field);
      // Anthropic's own `metadata` carries the end-user id only (checked above), never the caller's metadata.
      for (const field of Object.keys(IGNORED).filter((key) => key !== 'metadata')) expect(upstream).not.toHaveProperty(field);
    });

    test('happy: Anthropic gets no stop_sequences when every stop is whitespace', async () => {
      const { upstream } = await completeOn('anthropic/claude-haiku-4-5', { stop: ['\n', ' \t'] });
      expect(upstream).not.toHaveProperty('stop_sequences');
    });
  });

  describe('what Parley cannot honour, or is out of range, is refused naming the field (OpenAI’s 400)', () => {
    const refusals: [string, Record<string, unknown>, string][] = [
      ['n above 8 (each choice a reply of its own)', { n: 9 }, 'n'],
      ['n above OpenAI’s 128', { n: 129 }, 'n'],
      ['n 0', { n: 0 }, 'n'],
      ['top_p above 1', { top_p: 1.5 }, 'top_p'],
      ['top_p below 0', { top_p: -0.1 }, 'top_p'],
      ['temperature above 2', { temperature: 2.5 }, 'temperature'],
      ['presence_penalty above 2', { presence_penalty: 2.5 }, 'presence_penalty'],
      ['frequency_penalty below -2', { frequency_penalty: -3 }, 'frequency_penalty'],
      ['a fractional seed', { seed: 1.5 }, 'seed'],
      ['five stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      ['a stop that is no string', { stop: 5 }, 'stop'],
      ['an unknown response_format', { response_format: { type: 'xml' } }, 'response_format'],
      ['a json_schema without a name', { response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format'],
      ['logprobs from echo, which returns none', { logprobs: true }, 'logprobs'],
      ['top_logprobs above 20', { top_logprobs: 21 }, 'top_logprobs'],
      ['logit_bias beyond ±100', { logit_bias: { '50256': 101 } }, 'logit_bias'],
      ['audio output', { modalities: ['text', 'audio'] }, 'modalities'],
      ['audio output parameters', { audio: { voice: 'alloy', format: 'mp3' } }, 'audio'],
      ['web search', { web_search_options: {} }, 'web_search_options'],
      ['the deprecated functions', { functions: [{ name: 'f', parameters: {} }] }, 'functions'],
      ['the deprecated function_call', { function_call: 'auto' }, 'function_call'],
      ['an unknown service_tier', { service_tier: 'gold' }, 'service_tier'],
      ['max_tokens 0', { max_tokens: 0 }, 'max_tokens'],
      ['a custom tool', { tools: [{ type: 'custom', custom: { name: 'grammar' } }] }, 'tools[0]'],
      ['a tool name OpenAI refuses', { tools: [{ type: 'function', function: { name: 'has space' } }] }, 'tools'],
      ['tool_choice required without tools', { tool_choice: 'required' }, 'tool_choice'],
      [
        'tool_choice naming no tool given',
        { tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } },
        'tool_choice',
      ],
      ['a field OpenAI does not have', { frobnicate: true }, 'frobnicate'],
    ];

    test.each(refusals)('error: %s is a 400 naming the field', async (_what, fields, param) => {
      expect(await refusedParam(await hi(fields))).toBe(param);
    });

    test('happy: with an Idempotency-Key, n 2 not streamed is replayed; streamed, it is not kept (no one buffer holds it) and a repeat runs again', async () => {
      const text = uniqueText('idempotent choices');
      const send = (stream: boolean, idempotencyKey: string) =>
        app.request('/v1/chat/completions', {
          method: 'POST',
          headers: { ...bearer(key), 'idempotency-key': idempotencyKey },
          json: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }], n: 2, stream },
        });
      const jsonKey = crypto.randomUUID();
      const first = await readJson(await send(false, jsonKey));
      const again = await send(false, jsonKey);
      expect(again.headers.get('idempotency-replayed')).toBe('true');
      expect(await readJson(again)).toEqual(first);
      expect(upstreamCalls(fake, text).length).toBe(2);
      const streamKey = crypto.randomUUID();
      for (let i = 0; i < 2; i++) {
        const streamed = await send(true, streamKey);
        expect(streamed.status).toBe(200);
        expect(streamed.headers.get('idempotency-replayed')).toBeNull();
        expect((await completionChunks(streamed)).length).toBeGreaterThan(0);
      }
      expect(upstreamCalls(fake, text).length).toBe(6);
    });

    test('happy: n 3 streamed: each choice’s chunks carry its index and finish, one usage chunk sums them, one [DONE]', async () => {
      const text = uniqueText('three streamed');
      const response = await complete({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: text }],
        n: 3,
        stream: true,
        stream_options: { include_usage: true },
      });
      expect(response.status).toBe(200);
      const chunks = await completionChunks(response);
      expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
      const choices = chunks.flatMap((chunk) => chunk.choices as Json[]);
      for (const index of [0, 1, 2]) {
        const mine = choices.filter((choice) => choice.index === index);
        expect(mine.map((choice) => choice.delta.content ?? '').join('')).toBe(expectedReply(text));
        expect(mine.filter((choice) => choice.finish_reason !== null).map((choice) => choice.finish_reason)).toEqual(['stop']);
      }
      const usage = chunks.filter((chunk) => chunk.usage);
      expect(usage.length).toBe(1);
      expect(usage[0]!.choices).toEqual([]);
      expect(usage[0]!.usage.completion_tokens).toBe(3 * wordCount(expectedReply(text)));
      expect(upstreamCalls(fake, text).length).toBe(3);
    });

    test('error: logprobs true on a provider that returns none (anthropic) is refused before it is asked', async () => {
      const text = uniqueText('logprobs');
      const response = await complete({ model: 'anthropic/claude-haiku-4-5', messages: [{ role: 'user', content: text }], logprobs: true });
      expect(await refusedParam(response)).toBe('logprobs');
      expect(upstreamCalls(fake, text)).toEqual([]);
    });
  });

  describe('what goes upstream is only what the client asked for', () => {
    test('security: without `user`, nothing naming the Parley account goes upstream', async () => {
      const account = await register(app);
      const own = (await createApiKey(app, account.accessToken, { name: 'quiet' })).key;
      const text = uniqueText('quiet');
      const response = await app.request('/v1/chat/completions', {
        method: 'POST',
        headers: bearer(own),
        json: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }], metadata: { email: account.email } },
      });
      expect(response.status).toBe(200);
      const upstream = reachedUpstream(text);
      expect(upstream).not.toHaveProperty('user');
      expect(upstream).not.toHaveProperty('metadata');
      const sent = JSON.stringify(upstream);
      expect(sent).not.toContain(account.userId);
      expect(sent).not.toContain(account.email);
    });

    test('security: response_format carries nothing but its own fields upstream (no smuggled model or extra keys)', async () => {
      const smuggled = [
        { type: 'json_schema', json_schema: { name: 'x', schema: {} }, model: 'gpt-4o' },
        { type: 'json_schema', json_schema: { name: 'x', max_tokens: 100_000 } },
        { type: 'json_object', model: 'gpt-4o' },
        { type: 'text', temperature: 2 },
      ];
      for (const response_format of smuggled) expect(await refusedParam(await hi({ response_format }))).toBe('response_format');
      const name = 'bad name with spaces';
      expect(await refusedParam(await hi({ response_format: { type: 'json_schema', json_schema: { name } } }))).toBe('response_format');
    });
  });
});
