// `claude` names anthropic wherever a provider is named (the PWA seed calls it that): request
// bodies of chats, messages and stateless chat, websocket frames, `provider/model` ids on /v1,
// DEFAULT_PROVIDER and LLM_FALLBACKS. It is stored and answered as `anthropic`, and the request
// reaches Anthropic's wire format on the fake upstream. Anything else that is not a provider is 422.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { canonicalProvider } from '../../src/config/vocabulary.ts';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createApiKey,
  createChat,
  expectError,
  expectStatus,
  type Json,
  register,
  sendJson,
  uniqueText,
} from '../helpers/client.ts';
import { bodyOf, llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { WsClient } from '../helpers/ws.ts';

const model = 'claude-haiku-4-5';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

describe('claude in the configuration', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'parley-alias-'));
  const anthropic = { ANTHROPIC_API_KEY: 'test' };

  test('happy: DEFAULT_PROVIDER=claude and LLM_FALLBACKS=claude:… name anthropic', () => {
    const config = parseConfig({
      DATA_DIR: dataDir(),
      ...anthropic,
      DEFAULT_PROVIDER: 'claude',
      LLM_FALLBACKS: `claude:${model},echo:echo`,
    });
    expect(config.defaultProvider).toBe('anthropic');
    expect(config.llm.fallbacks).toEqual([
      { provider: 'anthropic', model },
      { provider: 'echo', model: 'echo' },
    ]);
  });

  test('error: claude must be configured like anthropic, and other names are refused', () => {
    const refused = (env: Record<string, string>) => {
      try {
        parseConfig({ DATA_DIR: dataDir(), ...env });
      } catch (error) {
        if (error instanceof ConfigError) return error.variable;
        throw error;
      }
      throw new Error('expected a ConfigError');
    };
    expect(refused({ DEFAULT_PROVIDER: 'claude' })).toBe('DEFAULT_PROVIDER');
    expect(refused({ LLM_FALLBACKS: `claude:${model}` })).toBe('LLM_FALLBACKS');
    expect(refused({ ...anthropic, DEFAULT_PROVIDER: 'Claude' })).toBe('DEFAULT_PROVIDER');
    expect(refused({ ...anthropic, LLM_FALLBACKS: `clod:${model}` })).toBe('LLM_FALLBACKS');
  });

  test('happy: the vocabulary maps claude and the canonical names, and nothing else', () => {
    expect(['openai', 'anthropic', 'ollama', 'echo', 'claude', 'Claude', 'constructor', '__proto__', ''].map(canonicalProvider)).toEqual([
      'openai',
      'anthropic',
      'ollama',
      'echo',
      'anthropic',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

for (const [name, kind] of kinds) {
  describe(`claude in requests on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    test('happy: a chat created and changed with provider claude stores anthropic; its reply goes to Anthropic', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'claude' as 'anthropic', model });
      expect(chat.provider).toBe('anthropic');
      const other = await createChat(app, account.accessToken, { provider: 'echo' });
      const patched = await expectStatus(
        await app.request(`/api/v1/chats/${other.id}`, {
          method: 'PATCH',
          headers: bearer(account.accessToken),
          json: { provider: 'claude', model },
        }),
        200,
      );
      expect(patched.provider).toBe('anthropic');

      const text = uniqueText('alias');
      const sent = await sendJson(app, account.accessToken, other.id, { content: text, provider: 'claude', model });
      expect(sent.assistantMessage).toMatchObject({ provider: 'anthropic', model, content: expectedReply(text) });
      const calls = upstreamCalls(fake, text);
      expect(calls.map((call) => call.path)).toEqual(['/v1/messages']);
      expect(bodyOf(calls[0]!).model).toBe(model);
      const usage = await expectStatus(await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) }), 200);
      expect(usage.byModel.map((m: Json) => m.provider)).toEqual(['anthropic']);
    });

    test('happy: stateless chat and /v1/chat/completions take claude and answer anthropic', async () => {
      const account = await register(app);
      const text = uniqueText('stateless');
      const reply = await expectStatus(
        await app.request('/api/v1/chat', {
          method: 'POST',
          headers: bearer(account.accessToken),
          json: { message: text, provider: 'claude', model },
        }),
        200,
      );
      expect(reply).toMatchObject({ provider: 'anthropic', model, reply: expectedReply(text) });

      const key = await createApiKey(app, account.accessToken);
      const completionText = uniqueText('completion');
      const completion = await expectStatus(
        await app.request('/v1/chat/completions', {
          method: 'POST',
          headers: bearer(key.key),
          json: { model: `claude/${model}`, messages: [{ role: 'user', content: completionText }] },
        }),
        200,
      );
      expect(completion.model).toBe(`anthropic/${model}`);
      expect(completion.choices[0].message.content).toBe(expectedReply(completionText));
      expect(upstreamCalls(fake, completionText).map((call) => [call.path, bodyOf(call).model])).toEqual([['/v1/messages', model]]);
    });

    test('error: a provider that is neither a name nor an alias is 422 naming the field', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken);
      const headers = bearer(account.accessToken);
      for (const [path, method, json, field] of [
        ['/api/v1/chats', 'POST', { provider: 'clod' }, 'body.provider'],
        [`/api/v1/chats/${chat.id}`, 'PATCH', { provider: 'Claude' }, 'body.provider'],
        [`/api/v1/chats/${chat.id}/messages`, 'POST', { content: 'hi', provider: 'claude-3' }, 'body.provider'],
        ['/api/v1/chat', 'POST', { message: 'hi', provider: 'anthropic ' }, 'body.provider'],
      ] as const) {
        const body = await expectError(await app.request(path, { method, headers, json }), 422, 'validation_error');
        expect(body.error.details.map((d: Json) => d.field)).toContain(field);
      }
    });
  });
}

describe('claude in a websocket frame', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(undefined, llmEnv(fake));
    app.app.listen({ port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await app.app.stop(true);
    await app.close();
  });

  test('happy: chat.send with provider claude streams from anthropic', async () => {
    const account = await register(app);
    const chat = await createChat(app, account.accessToken);
    const socket = await WsClient.ready(`ws://127.0.0.1:${app.app.server!.port}/api/v1/ws`, account.accessToken);
    try {
      const text = uniqueText('frame');
      socket.send({ type: 'chat.send', chatId: chat.id, content: text, provider: 'claude', model });
      expect(await socket.waitFor((frame) => frame.type === 'start', 'start')).toMatchObject({ provider: 'anthropic', model });
      await socket.waitFor((frame) => frame.type === 'done', 'done');
      expect(upstreamCalls(fake, text).map((call) => call.path)).toEqual(['/v1/messages']);
    } finally {
      socket.ws.close();
    }
  });
});

describe('claude in the OpenAPI document', () => {
  test('happy: request bodies list claude beside the provider names; responses list the names only', async () => {
    const app = await createTestApp(undefined, llmEnv(fake));
    try {
      const doc = await expectStatus(await app.request('/swagger/json'), 200);
      const text = JSON.stringify(doc.paths['/api/v1/chats'].post.requestBody);
      expect(text).toContain('"claude"');
      expect(JSON.stringify(doc.paths['/api/v1/models'].get.responses['200'])).not.toContain('claude"');
    } finally {
      await app.close();
    }
  });
});
