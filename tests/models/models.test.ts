// Models, stateless chat (JSON and SSE), the LLM call limits, and the admin Ollama routes, against
// the fake upstream, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { adminKey, asAdmin, bearer, expectError, readJson, register, uniqueText } from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls, wordCount } from '../helpers/llm.ts';
import { compareEventIds, readSse } from '../helpers/sse.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ ollamaModels: ['llama3', 'qwen2.5:0.5b'] });
});
afterAll(() => fake.stop());

type ModelEntry = { id: string; provider: string; name: string; capabilities: string[] };

for (const [name, kind] of kinds) {
  describe(`models and stateless chat on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    const chat = (token: string, json: unknown, path = '/api/v1/chat') =>
      app.request(path, { method: 'POST', headers: bearer(token), json });

    test("happy: GET /models lists echo and every configured provider's models, from upstream where it can", async () => {
      const response = await app.request('/api/v1/models');
      expect(response.status).toBe(200);
      const { data } = (await readJson(response)) as { data: ModelEntry[] };
      for (const entry of data) {
        expect(Object.keys(entry).sort()).toEqual(['capabilities', 'id', 'name', 'provider']);
        expect(entry.capabilities).toContain('chat');
      }
      const ids = (provider: string) => data.filter((m) => m.provider === provider).map((m) => m.id);
      expect(data).toContainEqual({ id: 'echo', provider: 'echo', name: 'echo', capabilities: expect.arrayContaining(['chat']) });
      // Only the fake lists gpt-4.1 and claude-opus-4-7; only its /api/tags names llama3:latest.
      expect(ids('openai')).toEqual(expect.arrayContaining(['gpt-4o-mini', 'gpt-4.1', 'o4-mini']));
      expect(ids('anthropic')).toEqual(expect.arrayContaining(['claude-sonnet-4-6', 'claude-opus-4-7', 'claude-haiku-4-5']));
      expect(ids('ollama')).toEqual(['llama3:latest', 'qwen2.5:0.5b']);
      expect(new Set(data.map((m) => m.provider))).toEqual(new Set(['echo', 'openai', 'anthropic', 'ollama']));
    });

    test('happy: POST /chat answers {reply, provider, model, usage} for echo and openai', async () => {
      const account = await register(app);
      const text = uniqueText('stateless');
      const echo = await chat(account.accessToken, { message: text, provider: 'echo' });
      expect(echo.status).toBe(200);
      expect(await readJson(echo)).toEqual({
        reply: text,
        provider: 'echo',
        model: 'echo',
        usage: { inputTokens: wordCount(text), outputTokens: wordCount(text) },
      });

      const openai = await chat(account.accessToken, { message: text, provider: 'openai', model: 'gpt-4.1' });
      expect(openai.status).toBe(200);
      expect(await readJson(openai)).toEqual({
        reply: expectedReply(text),
        provider: 'openai',
        model: 'gpt-4.1',
        usage: { inputTokens: wordCount(text), outputTokens: wordCount(expectedReply(text)) },
      });
      // Nothing is stored as a chat.
      expect((await readJson(await app.request('/api/v1/chats', { headers: bearer(account.accessToken) }))).data).toEqual([]);
    });

    test('happy: POST /chat sends the history and the system prompt upstream', async () => {
      const account = await register(app);
      const text = uniqueText('with history');
      const history = [
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: 'Four.' },
      ];
      for (const provider of ['openai', 'anthropic'] as const) {
        const model = provider === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5';
        const response = await chat(account.accessToken, {
          message: text,
          provider,
          model,
          history,
          system: 'Answer in one word',
          temperature: 0.2,
          maxTokens: 50,
        });
        expect(response.status).toBe(200);
        expect((await readJson(response)).reply).toBe(expectedReply(text));
        const call = upstreamCalls(fake, text).find((r) => r.path === (provider === 'openai' ? '/v1/chat/completions' : '/v1/messages'));
        expect(call).toBeDefined();
        const body = bodyOf(call!);
        const turns = (body.messages ?? []).map((m) => ({ role: m.role, content: textOfContent(m.content) }));
        expect(body.max_tokens).toBe(50);
        if (provider === 'openai') {
          expect(turns).toEqual([{ role: 'system', content: 'Answer in one word' }, ...history, { role: 'user', content: text }]);
          expect(body.temperature).toBe(0.2);
        } else {
          expect(turns).toEqual([...history, { role: 'user', content: text }]);
          expect(textOfContent(body.system)).toBe('Answer in one word');
        }
      }
    });

    test('happy: POST /chat/stream is SSE: start, deltas, done', async () => {
      const account = await register(app);
      const text = uniqueText('stream');
      const response = await chat(account.accessToken, { message: text, provider: 'openai', model: 'gpt-4o-mini' }, '/api/v1/chat/stream');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toStartWith('text/event-stream');
      expect(response.headers.get('x-accel-buffering')).toBe('no');
      const { events, text: streamed, ended } = await readSse(response);
      expect(ended).toBe(true);
      expect(events[0]).toMatchObject({
        event: 'start',
        data: { messageId: expect.any(String), streamId: expect.any(String), provider: 'openai', model: 'gpt-4o-mini' },
      });
      expect(events[0]!.data.chatId).toBeUndefined();
      expect(events.slice(1, -1).every((e) => e.event === 'delta')).toBe(true);
      expect(events.at(-1)).toMatchObject({
        event: 'done',
        data: { messageId: events[0]!.data.messageId, finishReason: 'stop', usage: { outputTokens: wordCount(expectedReply(text)) } },
      });
      for (let i = 1; i < events.length; i++) expect(compareEventIds(events[i - 1]!.id, events[i]!.id)).toBeLessThan(0);
      expect(streamed).toBe(expectedReply(text));
    });

    test('error: an unknown provider or model is 422; an upstream failure is 502; no credentials is 401', async () => {
      const account = await register(app);
      await expectError(await chat(account.accessToken, { message: 'hi', provider: 'mistral' }), 422, 'validation_error');
      await expectError(await chat(account.accessToken, { message: 'hi', provider: 'echo', model: 'nope' }), 422, 'validation_error');
      await expectError(
        await chat(account.accessToken, { message: 'hi', provider: 'mistral' }, '/api/v1/chat/stream'),
        422,
        'validation_error',
      );
      await expectError(await chat(account.accessToken, { message: '' }), 422, 'validation_error');
      await expectError(
        await chat(account.accessToken, { message: 'hi', provider: 'openai', model: 'fake-error-400' }),
        502,
        'upstream_error',
      );
      await expectError(await app.request('/api/v1/chat', { method: 'POST', json: { message: 'hi' } }), 401, 'unauthorized');
      await expectError(await app.request('/api/v1/rate-limit'), 401, 'unauthorized');
    });

    test('happy: admin Ollama routes read and change what /api/ps reports', async () => {
      const ps = async () =>
        ((await (await fetch(`${fake.url}/api/ps`)).json()) as { models: { name: string }[] }).models.map((m) => m.name);
      const status = () => app.request('/api/v1/models/llama3/status', { headers: asAdmin });
      expect(await readJson(await status())).toEqual({ model: 'llama3', installed: true, loaded: false });

      const started = await app.request('/api/v1/models/start', { method: 'POST', headers: asAdmin, json: { model: 'llama3' } });
      expect(started.status).toBe(200);
      expect(await readJson(started)).toEqual({ model: 'llama3', installed: true, loaded: true });
      expect(await ps()).toContain('llama3:latest');
      expect(await readJson(await status())).toMatchObject({ loaded: true });

      const stopped = await app.request('/api/v1/models/stop', { method: 'POST', headers: asAdmin, json: { model: 'llama3' } });
      expect(stopped.status).toBe(200);
      expect(await readJson(stopped)).toEqual({ model: 'llama3', installed: true, loaded: false });
      expect(await ps()).not.toContain('llama3:latest');

      await expectError(await app.request('/api/v1/models/not-installed/status', { headers: asAdmin }), 404, 'not_found');
      await expectError(
        await app.request('/api/v1/models/start', { method: 'POST', headers: asAdmin, json: { model: 'not-installed' } }),
        404,
        'not_found',
      );
    });

    test('security: the Ollama admin routes are 403 for a user and 401 without credentials', async () => {
      const account = await register(app);
      const user = bearer(account.accessToken);
      await expectError(await app.request('/api/v1/models/llama3/status', { headers: user }), 403, 'forbidden');
      await expectError(
        await app.request('/api/v1/models/start', { method: 'POST', headers: user, json: { model: 'llama3' } }),
        403,
        'forbidden',
      );
      await expectError(
        await app.request('/api/v1/models/stop', { method: 'POST', headers: user, json: { model: 'llama3' } }),
        403,
        'forbidden',
      );
      await expectError(
        await app.request('/api/v1/models/llama3/status', { headers: { 'x-admin-key': `${adminKey}-wrong` } }),
        401,
        'unauthorized',
      );
      await expectError(await app.request('/api/v1/models/llama3/status'), 401, 'unauthorized');
      expect(await fetch(`${fake.url}/api/ps`).then((r) => r.json())).toEqual({ models: [] });
    });
  });

  describe(`LLM call limits, and no Ollama, on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ADMIN_API_KEY: adminKey, RATE_LIMIT_ENABLED: 'true', RATELIMIT_PER_MINUTE: '3' });
    });
    afterAll(() => app.close());

    test('happy: GET /rate-limit shows the limits, each call spends one, and the 4th in a minute is 429', async () => {
      const account = await register(app);
      const rateLimit = async () => {
        const response = await app.request('/api/v1/rate-limit', { headers: bearer(account.accessToken) });
        expect(response.status).toBe(200);
        return readJson(response);
      };
      const before = await rateLimit();
      expect(Object.keys(before).sort()).toEqual([
        'concurrent',
        'general',
        'limits',
        'remaining',
        'resetSeconds',
        'search',
        'storage',
        'tier',
        'tokens',
        'uploads',
      ]);
      expect(before.limits).toEqual({ perMinute: 3, perHour: 100, perDay: 500 });
      expect(before.remaining).toEqual({ perMinute: 3, perHour: 100, perDay: 500 });

      const send = () =>
        app.request('/api/v1/chat', { method: 'POST', headers: bearer(account.accessToken), json: { message: 'count me' } });
      expect((await send()).status).toBe(200);
      const after = await rateLimit();
      expect(after.remaining).toEqual({ perMinute: 2, perHour: 99, perDay: 499 });
      expect(after.resetSeconds.perMinute).toBeGreaterThan(0);
      expect(after.resetSeconds.perMinute).toBeLessThanOrEqual(60);
      expect((await send()).status).toBe(200);
      expect((await send()).status).toBe(200);
      expect((await rateLimit()).remaining.perMinute).toBe(0);

      const refused = await send();
      const retryAfter = Number(refused.headers.get('retry-after'));
      await expectError(refused, 429, 'rate_limited');
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Another user has their own budget.
      const other = await register(app);
      expect(
        (await app.request('/api/v1/chat', { method: 'POST', headers: bearer(other.accessToken), json: { message: 'mine' } })).status,
      ).toBe(200);
    });

    test('error: the Ollama admin routes are 503 when Ollama is not configured', async () => {
      await expectError(await app.request('/api/v1/models/llama3/status', { headers: asAdmin }), 503, 'unavailable');
      await expectError(
        await app.request('/api/v1/models/start', { method: 'POST', headers: asAdmin, json: { model: 'llama3' } }),
        503,
        'unavailable',
      );
      await expectError(
        await app.request('/api/v1/models/stop', { method: 'POST', headers: asAdmin, json: { model: 'llama3' } }),
        503,
        'unavailable',
      );
      const { data } = (await readJson(await app.request('/api/v1/models'))) as { data: ModelEntry[] };
      expect(data).toEqual([{ id: 'echo', provider: 'echo', name: 'echo', capabilities: expect.arrayContaining(['chat']) }]);
    });
  });
}
