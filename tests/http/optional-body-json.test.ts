// Found by a fresh run against the executable: Elysia takes malformed JSON for "no body" on a
// route whose body is optional, so POST /admin/cache/clear with `{bad` cleared the whole cache and
// POST /files/:id/analyze ran (and billed) with the default prompt. Malformed JSON is 400
// `invalid_json` on every route alike, before anything runs; an empty body still means "none".
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { adminKey, bearer, createChat, expectError, register, sendJson, testEnv } from '../helpers/client.ts';
import { uploadSample } from '../helpers/files.ts';

const malformed = ['{bad', 'not json', '{"prompt": "x",}'];

describe.each(kinds)('malformed JSON on routes whose body is optional (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0' });
  });
  afterAll(() => app.close());

  const post = (path: string, headers: Record<string, string>, body?: string) =>
    app.request(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });

  test('error: cache clear, analyze and regenerate refuse it with 400 and do nothing', async () => {
    const account = await register(app);
    const file = await uploadSample(app, account.accessToken, 'notes.md', 'markdown');
    const chat = await createChat(app, account.accessToken);
    const sent = await sendJson(app, account.accessToken, chat.id, { content: 'hello' });
    await app.request('/api/v1/models', { headers: bearer(account.accessToken) });
    const keysBefore = await app.infra.kv.countMatching('cache:*');
    const usageBefore = await (await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) })).text();
    for (const body of malformed) {
      await expectError(await post('/api/v1/admin/cache/clear', { 'x-admin-key': adminKey }, body), 400, 'invalid_json');
      await expectError(await post(`/api/v1/files/${file.id}/analyze`, bearer(account.accessToken), body), 400, 'invalid_json');
      await expectError(
        await post(`/api/v1/chats/${chat.id}/messages/${sent.assistantMessage.id}/regenerate`, bearer(account.accessToken), body),
        400,
        'invalid_json',
      );
    }
    expect(await app.infra.kv.countMatching('cache:*')).toBe(keysBefore);
    expect(await (await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) })).text()).toBe(usageBefore);
  });

  test('happy: an empty body (or none) still means "no body" there', async () => {
    expect((await post('/api/v1/admin/cache/clear', { 'x-admin-key': adminKey }, '')).status).toBe(200);
    expect((await app.request('/api/v1/admin/cache/clear', { method: 'POST', headers: { 'x-admin-key': adminKey } })).status).toBe(200);
  });
});
