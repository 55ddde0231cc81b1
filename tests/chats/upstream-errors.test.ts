// Break-it F12, reproduced on every way a reply's failure reaches a client, on every storage kind:
// an upstream that answers 401 or 500 with a body holding internals (a marker string, and the
// provider's own API key). The client gets "The model provider (…) answered HTTP <status>", never
// the body; the log gets the body, with the key masked (issue "Reliability", kind 6).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  asAdmin,
  bearer,
  createChat,
  expectError,
  getChat,
  readJson,
  register,
  sendMessage,
  streamMessage,
  uniqueText,
} from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';
import { readSse } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';

const MARKER = 'internal secret stack at /srv/openai/x.py:12';
const PROVIDER_KEY = 'sk-provider-key-for-f12-0123456789';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

/** The wire's error body, holding the marker and (as some upstreams echo it) the key that was sent. */
const failing = (provider: 'openai' | 'anthropic', status: number) => {
  const message = `${MARKER} (key ${PROVIDER_KEY})`;
  fake.failNext(1, status, provider === 'anthropic' ? { type: 'error', error: { type: 'api_error', message } } : { error: { message } });
};

for (const [name, kind] of kinds) {
  describe(`upstream error text on ${name}`, () => {
    let app: TestApp;
    let account: Account;
    let wsUrl: string;
    beforeAll(async () => {
      app = await createTestApp(
        kind,
        llmEnv(fake, { LLM_MAX_RETRIES: '0', OPENAI_API_KEY: PROVIDER_KEY, ANTHROPIC_API_KEY: PROVIDER_KEY }),
      );
      app.app.listen({ port: 0, hostname: '127.0.0.1' });
      wsUrl = `ws://127.0.0.1:${app.app.server!.port}/api/v1/ws`;
      account = await register(app);
    });
    afterAll(async () => {
      await app.app.stop(true);
      await app.close();
    });

    /** Runs `act`; the log lines it added hold the marker, never the provider key. */
    const logged = async <T>(act: () => Promise<T>): Promise<T> => {
      const from = app.logs.length;
      const result = await act();
      const lines = JSON.stringify(app.logs.slice(from));
      expect(lines).toContain(MARKER);
      expect(lines).not.toContain(PROVIDER_KEY);
      return result;
    };

    test.each([
      ['openai', 'gpt-4o-mini', 500],
      ['openai', 'gpt-4o-mini', 401],
      ['anthropic', 'claude-haiku-4-5', 500],
      ['anthropic', 'claude-haiku-4-5', 401],
    ] as const)('security: %s %s answering %d: the SSE error event is generic, the log has the body', async (provider, model, status) => {
      const chat = await createChat(app, account.accessToken, { provider, model });
      const streamed = await logged(async () => {
        failing(provider, status);
        return streamMessage(app, account.accessToken, chat.id, { content: uniqueText('f12') });
      });
      expect(streamed.error).toEqual({ code: 'upstream_error', message: `The model provider (${provider}) answered HTTP ${status}` });
      expect(JSON.stringify(streamed.events)).not.toContain(MARKER);
      // The replay from the buffer says the same.
      const replay = await readSse(
        await app.request(`/api/v1/streams/${streamed.start.streamId}`, { headers: bearer(account.accessToken) }),
      );
      expect(JSON.stringify(replay.events)).not.toContain(MARKER);
      expect(JSON.stringify(await getChat(app, account.accessToken, chat.id))).not.toContain(MARKER);
    });

    test('security: stream:false answers 502 with the generic message', async () => {
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const response = await logged(async () => {
        failing('openai', 500);
        return sendMessage(app, account.accessToken, chat.id, { content: uniqueText('f12'), stream: false });
      });
      const body = await expectError(response, 502, 'upstream_error');
      expect(body.error.message).toBe('The model provider (openai) answered HTTP 500');
      expect(JSON.stringify(body)).not.toContain(MARKER);
    });

    test('security: the stateless POST /chat answers 502, POST /chat/stream an error event, both generic', async () => {
      const body = { message: uniqueText('f12'), provider: 'openai', model: 'gpt-4o-mini' };
      const whole = await logged(async () => {
        failing('openai', 401);
        return app.request('/api/v1/chat', { method: 'POST', headers: bearer(account.accessToken), json: body });
      });
      const error = await expectError(whole, 502, 'upstream_error');
      expect(error.error.message).toBe('The model provider (openai) answered HTTP 401');

      const streamed = await logged(async () => {
        failing('openai', 500);
        const response = await app.request('/api/v1/chat/stream', { method: 'POST', headers: bearer(account.accessToken), json: body });
        expect(response.status).toBe(200);
        return readSse(response);
      });
      expect(streamed.events.at(-1)).toMatchObject({
        event: 'error',
        data: { code: 'upstream_error', message: 'The model provider (openai) answered HTTP 500' },
      });
      expect(JSON.stringify(streamed.events)).not.toContain(MARKER);
    });

    test('security: /v1/chat/completions, whole and streamed, does not relay the body', async () => {
      const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: uniqueText('f12') }] };
      const whole = await logged(async () => {
        failing('openai', 500);
        return app.request('/v1/chat/completions', { method: 'POST', headers: bearer(account.accessToken), json: body });
      });
      expect(whole.status).toBe(502);
      const text = await whole.text();
      expect(text).toContain('The model provider (openai) answered HTTP 500');
      expect(text).not.toContain(MARKER);

      const streamed = await logged(async () => {
        failing('openai', 500);
        const response = await app.request('/v1/chat/completions', {
          method: 'POST',
          headers: bearer(account.accessToken),
          json: { ...body, stream: true },
        });
        // A failure before the first token is answered with its status and a JSON body (B5).
        expect(response.status).toBe(502);
        expect(response.headers.get('content-type')).toContain('application/json');
        return response.text();
      });
      expect(streamed).toContain('The model provider (openai) answered HTTP 500');
      expect(streamed).not.toContain(MARKER);
    });

    test('security: the websocket’s error frame is generic', async () => {
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const socket = await WsClient.ready(wsUrl, account.accessToken);
      try {
        const frame = await logged(async () => {
          failing('openai', 500);
          socket.send({ type: 'chat.send', chatId: chat.id, content: uniqueText('f12') });
          return socket.waitFor((f) => f.type === 'error', 'the error frame');
        });
        expect(frame).toMatchObject({ type: 'error', code: 'upstream_error', message: 'The model provider (openai) answered HTTP 500' });
        expect(socket.raw.join('\n')).not.toContain(MARKER);
      } finally {
        await socket.close();
      }
    });

    test('security: the Ollama admin routes answer 502 with the generic message', async () => {
      const response = await logged(async () => {
        fake.failNext(1, 500, { error: `${MARKER} (key ${PROVIDER_KEY})` });
        return app.request('/api/v1/models/start', { method: 'POST', headers: asAdmin, json: { model: 'llama3.2' } });
      });
      const body = await expectError(response, 502, 'upstream_error');
      expect(body.error.message).toBe('The model provider (ollama) answered HTTP 500');
      expect(JSON.stringify(body)).not.toContain(MARKER);
    });

    test('happy: after the failures, the same chat answers normally', async () => {
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const streamed = await streamMessage(app, account.accessToken, chat.id, { content: 'hello again' });
      expect(streamed.error).toBeUndefined();
      expect(streamed.done).toBeDefined();
      expect(await readJson(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }))).toMatchObject({
        id: account.userId,
      });
    });
  });
}
