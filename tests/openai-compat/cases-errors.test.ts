// The breaks of the clients report (../shared/cases/2026-11-30-clients.md) about /v1's errors, each
// as its smallest reproduction with the right behaviour: B3 (upstream errors keep their meaning,
// retries do not multiply), B5 (a stream that fails before its first token answers with its
// status), and OpenAI's error shape on every /v1 path (and only there).
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, expectError, register, uniqueText } from '../helpers/client.ts';
import { llmEnv, modelCalls, upstreamCalls } from '../helpers/llm.ts';
import { expectOpenAiError, keyedApp } from '../helpers/openai.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const callsTo = (model: string) => modelCalls(fake, model);

describe.each(kinds)('/v1 error cases of the clients report (%s)', (_label, kind) => {
  let app: TestApp;
  let key: string;

  beforeAll(async () => {
    ({ app, key } = await keyedApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '2', LLM_RETRY_BASE_MS: '1' })));
  });
  afterAll(() => app?.close());
  beforeEach(() => fake.reset());

  const complete = (body: Record<string, unknown>) =>
    app.request('/v1/chat/completions', { method: 'POST', headers: bearer(key), json: body });

  describe('B3: upstream errors keep their meaning', () => {
    test('error: an upstream 400 stays 400 invalid_request_error with upstream’s message, asked once', async () => {
      const body = await expectOpenAiError(
        await complete({ model: 'openai/fake-error-400', messages: [{ role: 'user', content: 'x' }] }),
        400,
        'invalid_request_error',
      );
      expect(body.error.message).toBe('Invalid request (fake upstream).');
      expect(callsTo('fake-error-400').length).toBe(1);
    });

    test('error: an unknown model is 404 model_not_found: upstream’s 404, and a model Parley does not offer', async () => {
      await expectOpenAiError(
        await complete({ model: 'fake-error-404', messages: [{ role: 'user', content: 'x' }] }),
        404,
        'invalid_request_error',
        {
          code: 'model_not_found',
          param: 'model',
        },
      );
      fake.failNext(1, 404);
      await expectOpenAiError(
        await complete({ model: 'mistral/mistral-large', messages: [{ role: 'user', content: 'x' }] }),
        404,
        'invalid_request_error',
        {
          code: 'model_not_found',
        },
      );
      expect(callsTo('mistral/mistral-large').length).toBe(1);
      await expectOpenAiError(
        await complete({ model: 'echo/nope', messages: [{ role: 'user', content: 'x' }] }),
        404,
        'invalid_request_error',
        {
          code: 'model_not_found',
          param: 'model',
        },
      );
    });

    test('error: upstream 401 (Parley’s own key) is 502 with x-should-retry false, and no upstream message', async () => {
      const response = await complete({ model: 'openai/fake-error-401', messages: [{ role: 'user', content: 'x' }] });
      expect(response.headers.get('x-should-retry')).toBe('false');
      const body = await expectOpenAiError(response, 502, 'server_error', { code: 'upstream_error' });
      expect(body.error.message).not.toContain('Incorrect API key');
      expect(callsTo('fake-error-401').length).toBe(1);
    });

    test('error: a persistent 503 is retried by Parley only, then 503 with x-should-retry false', async () => {
      const response = await complete({ model: 'openai/fake-error-503', messages: [{ role: 'user', content: 'x' }] });
      expect(response.headers.get('x-should-retry')).toBe('false');
      await expectOpenAiError(response, 503, 'server_error', { code: 'service_unavailable' });
      expect(callsTo('fake-error-503').length).toBe(3); // LLM_MAX_RETRIES=2
    });

    test('error: upstream’s Retry-After on a 429 is passed on instead', async () => {
      fake.failNext(3, 429, undefined, { 'retry-after': '7' });
      const response = await complete({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: uniqueText('limited') }] });
      expect(response.headers.get('retry-after')).toBe('7');
      expect(response.headers.get('x-should-retry')).toBeNull();
      await expectOpenAiError(response, 429, 'requests', { code: 'rate_limit_exceeded' });
    });

    test('error: a 500 is 502 upstream_error with x-should-retry false', async () => {
      const response = await complete({ model: 'anthropic/fake-error-500', messages: [{ role: 'user', content: 'x' }] });
      expect(response.headers.get('x-should-retry')).toBe('false');
      await expectOpenAiError(response, 502, 'server_error', { code: 'upstream_error' });
    });
  });

  describe('B5: a stream that fails before its first token answers with the status', () => {
    test('error: upstream 401 streamed is HTTP 502 JSON, not a 200 stream', async () => {
      const response = await complete({ model: 'openai/fake-error-401', stream: true, messages: [{ role: 'user', content: 'x' }] });
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(response.headers.get('x-should-retry')).toBe('false');
      await expectOpenAiError(response, 502, 'server_error');
    });

    test('error: upstream 400 streamed is HTTP 400 JSON', async () => {
      await expectOpenAiError(
        await complete({ model: 'anthropic/fake-error-400', stream: true, messages: [{ role: 'user', content: 'x' }] }),
        400,
        'invalid_request_error',
      );
    });

    test('happy: a failure after tokens were sent is an in-band error chunk, after a 200', async () => {
      const response = await complete({ model: 'openai/fake-mid-stream-error', stream: true, messages: [{ role: 'user', content: 'x' }] });
      expect(response.status).toBe(200);
      const lines = (await response.text()).split('\n').filter((line) => line.startsWith('data: '));
      const events = lines.map((line) => JSON.parse(line.slice(6)));
      expect(events.some((event) => event.choices?.[0]?.delta?.content)).toBe(true);
      expect(events.at(-1)).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: 'upstream_error' } });
    });
  });

  describe('n > 1: each choice is a call of its own, admitted all or none', () => {
    test('error: n 3 on a key allowed 2 calls a minute is 429 and charges nothing: a call of one still goes through', async () => {
      const owner = await register(app);
      const limited = await createApiKey(app, owner.accessToken, { name: 'two a minute', requestsPerMinute: 2 });
      const text = uniqueText('three on two');
      const send = (n: number) =>
        app.request('/v1/chat/completions', {
          method: 'POST',
          headers: bearer(limited.key),
          json: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }], n },
        });
      await expectOpenAiError(await send(3), 429, 'requests', { code: 'rate_limit_exceeded' });
      expect(upstreamCalls(fake, text)).toEqual([]);
      expect((await send(2)).status).toBe(200);
      await expectOpenAiError(await send(1), 429, 'requests', { code: 'rate_limit_exceeded' });
      expect(upstreamCalls(fake, text).length).toBe(2);
    });
  });

  describe('errors everywhere on /v1 are OpenAI’s shape', () => {
    test('security: the rest of the API keeps the contract’s shape (a schema violation is still 422 validation_error)', async () => {
      const response = await app.request('/api/v1/chat', { method: 'POST', headers: bearer(key), json: { message: 5 } });
      expect((await expectError(response, 422, 'validation_error')).error.details[0].field).toBe('body.message');
      await expectError(await app.request('/api/v1/chats'), 401, 'unauthorized');
    });

    test('error: a /v1 path Parley does not serve is OpenAI’s 404', async () => {
      await expectOpenAiError(
        await app.request('/v1/embeddings', { method: 'POST', headers: bearer(key), json: {} }),
        404,
        'invalid_request_error',
        {
          code: 'not_found',
        },
      );
    });

    test('security: a wrong key is 401 invalid_api_key', async () => {
      const response = await app.request('/v1/chat/completions', {
        method: 'POST',
        headers: bearer('pk_wrong'),
        json: { model: 'echo/echo', messages: [{ role: 'user', content: 'x' }] },
      });
      await expectOpenAiError(response, 401, 'invalid_request_error', { code: 'invalid_api_key' });
      await expectOpenAiError(await app.request('/v1/models'), 401, 'invalid_request_error', { code: 'invalid_api_key' });
    });

    test('error: malformed JSON is 400, a wrong type names the field in OpenAI’s notation', async () => {
      const malformed = await app.request('/v1/chat/completions', {
        method: 'POST',
        headers: { ...bearer(key), 'content-type': 'application/json' },
        body: '{"model":',
      });
      await expectOpenAiError(malformed, 400, 'invalid_request_error');
      await expectOpenAiError(
        await complete({
          model: 'echo/echo',
          messages: [
            { role: 'user', content: 'x' },
            { role: 'tool', content: 'x' },
          ],
        }),
        400,
        'invalid_request_error',
        { param: 'messages[1]' },
      );
    });
  });
});

describe.each(kinds)('n > 1 under the tier’s limits (%s)', (_label, kind) => {
  let app: TestApp;
  let key: string;
  beforeAll(async () => {
    ({ app, key } = await keyedApp(
      kind,
      llmEnv(fake, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MAX_REQUESTS: '10000', TIER_LIMITS_FREE: 'minute=4,concurrent=3' }),
    ));
  });
  afterAll(() => app?.close());

  const send = (n: number, text: string) =>
    app.request('/v1/chat/completions', {
      method: 'POST',
      headers: bearer(key),
      json: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }], n },
    });

  test('error: more choices than the tier generates at once is a 400 naming n (never admissible, not worth retrying)', async () => {
    const text = uniqueText('four at once');
    const body = await expectOpenAiError(await send(4, text), 400, 'invalid_request_error', { param: 'n' });
    expect(body.error.message).toContain('at most 3 at once');
    expect(upstreamCalls(fake, text)).toEqual([]);
  });

  test('error: more choices than the minute has room for is 429 and charges nothing', async () => {
    const text = uniqueText('room');
    expect((await send(3, text)).status).toBe(200); // 3 of the minute's 4
    await expectOpenAiError(await send(2, text), 429, 'requests', { code: 'rate_limit_exceeded' });
    expect((await send(1, text)).status).toBe(200); // the refused request took none of them
    expect(upstreamCalls(fake, text).length).toBe(4);
  });
});
