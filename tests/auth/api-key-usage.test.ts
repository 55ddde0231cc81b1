// Usage per API key (issue 15, point 6): every LLM call made with a key, through every door
// (stateless chat, a chat's message, /v1/chat/completions through the openai SDK, file analysis,
// a spoken turn), is recorded against that key by day and model, beside the user's own usage,
// and shown at GET /auth/api-keys/:id/usage and to admins. On every storage kind, against the fake
// LLM upstream and the fake speech server.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { spokenWav } from '../fakes/audio.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { type FakeSpeech, startFakeSpeech } from '../fakes/speech.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, createApiKey, createChat, expectStatus, type Json, register, sendJson, uniqueText } from '../helpers/client.ts';
import { upload } from '../helpers/files.ts';
import { llmEnv } from '../helpers/llm.ts';
import { audioForm, postForm } from '../voice/helpers.ts';

type Tokens = { inputTokens: number; outputTokens: number };

let fake: FakeUpstream;
let speech: FakeSpeech;
beforeAll(async () => {
  [fake, speech] = await Promise.all([startFakeUpstream(), startFakeSpeech()]);
});
afterAll(async () => {
  await Promise.all([fake.stop(), speech.stop()]);
});

for (const [name, kind] of kinds) {
  describe(`usage per API key on ${name}`, () => {
    let app: TestApp;
    let server: { stop: (force?: boolean) => unknown; port: number };
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake, { SPEECH_BASE_URL: speech.baseUrl, SPEECH_API_KEY: 'speech-key-for-tests' }));
      server = app.app.listen({ port: 0, hostname: '127.0.0.1' }).server as unknown as typeof server;
    });
    afterAll(async () => {
      await server?.stop(true);
      await app?.close();
    });

    const keyUsage = async (token: string, id: string) =>
      expectStatus(await app.request(`/api/v1/auth/api-keys/${id}/usage`, { headers: bearer(token) }), 200);
    const stateless = async (token: string, body: Record<string, unknown>) =>
      (await expectStatus(await app.request('/api/v1/chat', { method: 'POST', headers: bearer(token), json: body }), 200)).usage as Tokens;

    test('happy: each door’s LLM calls are the key’s, by day and model; another key and the session keep their own', async () => {
      const account = await register(app);
      const a = await createApiKey(app, account.accessToken, { name: 'a' });
      const b = await createApiKey(app, account.accessToken, { name: 'b' });
      const spent: { model: string; usage: Tokens }[] = [];

      // Stateless chat, and a chat's message, with key A.
      spent.push({ model: 'echo/echo', usage: await stateless(a.key, { message: 'one two three', provider: 'echo' }) });
      const chat = await createChat(app, a.key, { provider: 'openai', model: 'gpt-4o-mini' });
      const sent = await sendJson(app, a.key, chat.id, { content: uniqueText('in a chat') });
      spent.push({ model: 'openai/gpt-4o-mini', usage: sent.assistantMessage.usage });

      // /v1/chat/completions through the official SDK, with key A as its key.
      const sdk = new OpenAI({ apiKey: a.key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });
      const completion = await sdk.chat.completions.create({ model: 'openai/gpt-4.1', messages: [{ role: 'user', content: 'hello sdk' }] });
      spent.push({
        model: 'openai/gpt-4.1',
        usage: { inputTokens: completion.usage!.prompt_tokens, outputTokens: completion.usage!.completion_tokens },
      });

      // File analysis (the file uploaded with the session, analysed with the key).
      const file = await expectStatus(
        await upload(app, account.accessToken, [
          { field: 'file', filename: 'notes.txt', type: 'text/plain', data: new TextEncoder().encode('some notes') },
        ]),
        201,
      );
      const analysed = await expectStatus(
        await app.request(`/api/v1/files/${file.id}/analyze`, { method: 'POST', headers: bearer(a.key), json: { provider: 'echo' } }),
        200,
      );
      spent.push({ model: 'echo/echo', usage: analysed.usage });

      // A spoken turn: its reply is an LLM call made with the key.
      const said = uniqueText('spoken words');
      const { bytes } = spokenWav(said);
      speech.script(bytes, said);
      await expectStatus(await postForm(app, a.key, 'process', audioForm(bytes, { format: 'wav', provider: 'echo' })), 200);
      const words = said.split(/\s+/).length;
      spent.push({ model: 'echo/echo', usage: { inputTokens: words, outputTokens: words } });

      // A failed call costs nothing; key B and the session make one call each.
      const failed = await app.request('/api/v1/chat', {
        method: 'POST',
        headers: bearer(a.key),
        json: { message: 'x', provider: 'openai', model: 'fake-error-400' },
      });
      expect(failed.status).toBeGreaterThanOrEqual(400);
      const byB = await stateless(b.key, { message: 'just b', provider: 'echo' });
      const bySession = await stateless(account.accessToken, { message: 'just me', provider: 'echo' });

      const sum = (list: Tokens[]) => ({
        inputTokens: list.reduce((total, usage) => total + usage.inputTokens, 0),
        outputTokens: list.reduce((total, usage) => total + usage.outputTokens, 0),
      });
      const usageA = await keyUsage(account.accessToken, a.id);
      expect(usageA.apiKeyId).toBe(a.id);
      expect(usageA.totals).toEqual({ requests: spent.length, ...sum(spent.map((call) => call.usage)) });
      const today = new Date().toISOString().slice(0, 10);
      expect(usageA.byDay).toEqual([{ day: today, ...usageA.totals }]);
      const models = Object.groupBy(spent, (call) => call.model);
      expect(usageA.byModel.toSorted((x: Json, y: Json) => `${x.provider}/${x.model}`.localeCompare(`${y.provider}/${y.model}`))).toEqual(
        Object.keys(models)
          .sort()
          .map((id) => {
            const [provider, model] = id.split('/');
            const calls = models[id]!;
            return { provider, model, requests: calls.length, ...sum(calls.map((call) => call.usage)) };
          }),
      );
      const used = usageA.totals.inputTokens + usageA.totals.outputTokens;
      expect(usageA.month).toMatchObject({ used, remaining: null });

      const usageB = await keyUsage(account.accessToken, b.id);
      expect(usageB.totals).toEqual({ requests: 1, ...byB });
      expect(usageB.byModel).toEqual([{ provider: 'echo', model: 'echo', requests: 1, ...byB }]);

      // The user's own usage holds every call, with or without a key.
      const mine = await expectStatus(await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) }), 200);
      const all = sum([...spent.map((call) => call.usage), byB, bySession]);
      expect(mine.totals).toEqual({ requests: spent.length + 2, ...all });

      // An admin sees what the owner sees.
      const asAdminUsage = await expectStatus(await app.request(`/api/v1/admin/api-keys/${a.id}/usage`, { headers: asAdmin }), 200);
      expect(asAdminUsage).toEqual(usageA);
    });

    test('happy: a streamed reply counts once it is done; `days` narrows the window', async () => {
      const account = await register(app);
      const key = await createApiKey(app, account.accessToken, { name: 'stream' });
      const response = await app.request('/api/v1/chat/stream', {
        method: 'POST',
        headers: bearer(key.key),
        json: { message: 'stream these four words', provider: 'echo' },
      });
      expect(response.status).toBe(200);
      await response.text();
      const usage = await keyUsage(account.accessToken, key.id);
      expect(usage.totals).toEqual({ requests: 1, inputTokens: 4, outputTokens: 4 });
      const oneDay = await expectStatus(
        await app.request(`/api/v1/auth/api-keys/${key.id}/usage?days=1`, { headers: bearer(account.accessToken) }),
        200,
      );
      expect(oneDay.from).toBe(oneDay.to);
      expect(oneDay.totals.requests).toBe(1);
      const bad = await app.request(`/api/v1/auth/api-keys/${key.id}/usage?days=0`, { headers: bearer(account.accessToken) });
      expect(bad.status).toBe(422);
    });
  });
}
