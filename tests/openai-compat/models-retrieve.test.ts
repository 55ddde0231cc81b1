// GET /v1/models/{model} (case B4): the official openai SDK's `models.retrieve` against Parley on a
// real port, with a Parley API key, on every storage kind. Ids hold a `/`: sent encoded (the SDK)
// or as is (curl), both answer OpenAI's model object; an unknown model, or one the key may not
// use, is OpenAI's 404 `model_not_found`. GET /v1/models lists only what the key may use.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, type Json, readJson, register } from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const notFoundBody = (id: string) => ({
  error: {
    message: `The model \`${id}\` does not exist or you do not have access to it.`,
    type: 'invalid_request_error',
    param: 'model',
    code: 'model_not_found',
  },
});

for (const [name, kind] of kinds) {
  describe(`GET /v1/models/{model} on ${name}`, () => {
    let app: TestApp;
    let server: { stop: (force?: boolean) => unknown; port: number };
    let base: string;
    let key: string;
    let client: OpenAI;

    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
      server = app.app.listen({ port: 0, hostname: '127.0.0.1' }).server as unknown as typeof server;
      base = `http://127.0.0.1:${server.port}`;
      const account = await register(app);
      key = (await createApiKey(app, account.accessToken, { name: 'models' })).key;
      client = new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0 });
    });
    afterAll(async () => {
      await server?.stop(true);
      await app?.close();
    });

    const get = (path: string, credential = key) => fetch(`${base}${path}`, { headers: bearer(credential) });

    test('happy: models.retrieve answers OpenAI’s model object for provider/model ids (the SDK sends the / as %2F)', async () => {
      expect(await client.models.retrieve('openai/gpt-4.1')).toEqual({
        id: 'openai/gpt-4.1',
        object: 'model',
        created: 0,
        owned_by: 'openai',
      });
      expect(await client.models.retrieve('anthropic/claude-opus-4-7')).toMatchObject({
        id: 'anthropic/claude-opus-4-7',
        owned_by: 'anthropic',
      });
      expect(await client.models.retrieve('echo/echo')).toMatchObject({ id: 'echo/echo', object: 'model', owned_by: 'echo' });
      // Every listed id retrieves as itself.
      const listed = (await client.models.list()).data;
      expect(listed.length).toBeGreaterThan(3);
      for (const model of listed) expect(await client.models.retrieve(model.id)).toEqual(model);
    });

    test('happy: the id with a raw /, encoded %2F or %2f, an alias or no provider', async () => {
      for (const path of ['/v1/models/openai/gpt-4.1', '/v1/models/openai%2Fgpt-4.1', '/v1/models/openai%2fgpt-4.1']) {
        const response = await get(path);
        expect(response.status).toBe(200);
        expect(await readJson(response)).toEqual({ id: 'openai/gpt-4.1', object: 'model', created: 0, owned_by: 'openai' });
      }
      // `claude/…` names anthropic, as on /v1/chat/completions; the answer uses the canonical id.
      expect(await readJson(await get('/v1/models/claude/claude-haiku-4-5'))).toMatchObject({ id: 'anthropic/claude-haiku-4-5' });
      // Without a provider, the default provider's model (openai here, as on /v1/chat/completions).
      expect(await readJson(await get('/v1/models/gpt-4o-mini'))).toMatchObject({ id: 'openai/gpt-4o-mini' });
      // An Ollama model with or without its :latest tag.
      expect(await readJson(await get('/v1/models/ollama%2Fllama3.2'))).toMatchObject({ id: 'ollama/llama3.2:latest' });
    });

    test('error: an unknown model is 404 model_not_found in OpenAI’s shape; the SDK raises NotFoundError', async () => {
      const error = await client.models.retrieve('openai/gpt-does-not-exist').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual(notFoundBody('openai/gpt-does-not-exist').error);
      for (const [path, id] of [
        ['/v1/models/mistral/large', 'mistral/large'],
        ['/v1/models/echo%2Fnope', 'echo/nope'],
        ['/v1/models/a%2Fb%2Fc', 'a/b/c'],
        ['/v1/models/openai/x/y', 'openai/x/y'],
      ] as const) {
        const response = await get(path);
        expect(response.status).toBe(404);
        expect(await readJson(response)).toEqual(notFoundBody(id));
      }
      // Malformed percent-encoding is no model either, never a 500.
      for (const path of ['/v1/models/%E0%A4%A', '/v1/models/openai/%E0%A4%A']) {
        const response = await get(path);
        expect(response.status).toBe(404);
        expect((await readJson(response)).error.code).toBe('model_not_found');
      }
    });

    test('security: without a credential it is 401; with a key limited to some models, others are 404 and unlisted', async () => {
      expect((await fetch(`${base}/v1/models/echo%2Fecho`)).status).toBe(401);
      const account = await register(app);
      const limited = await createApiKey(app, account.accessToken, { name: 'limited' });
      const patched = await app.request(`/api/v1/auth/api-keys/${limited.id}`, {
        method: 'PATCH',
        headers: bearer(account.accessToken),
        json: { allowedModels: ['openai/gpt-4*', 'echo/*'] },
      });
      expect(patched.status).toBe(200);
      const sdk = new OpenAI({ apiKey: limited.key, baseURL: `${base}/v1`, maxRetries: 0 });
      const ids = (await sdk.models.list()).data.map((model) => model.id);
      expect(ids.toSorted()).toEqual(['echo/echo', 'openai/gpt-4.1', 'openai/gpt-4o-mini']);
      expect(await sdk.models.retrieve('openai/gpt-4.1')).toMatchObject({ id: 'openai/gpt-4.1' });
      const refused = await get('/v1/models/anthropic%2Fclaude-opus-4-7', limited.key);
      expect(refused.status).toBe(404);
      expect(await readJson(refused)).toEqual(notFoundBody('anthropic/claude-opus-4-7'));
      // The owner's own session sees every model: the limit is the key's.
      const all = (await readJson(await get('/v1/models', account.accessToken))) as Json;
      expect(all.data.map((model: Json) => model.id)).toContain('anthropic/claude-opus-4-7');
    });
  });
}
