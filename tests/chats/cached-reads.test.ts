// The chat list's first page and the per-user stats come from the two-layer cache (issue 12,
// "Cache and quotas" point 1), and every write that changes them is seen at once: after each
// write, the cached answer equals the answer computed afresh (the cache cleared), on every
// storage kind and, with Redis, on another instance that had the old answer in memory.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { adminKey, bearer, createChat, type Json, readJson, register, sendJson, testEnv } from '../helpers/client.ts';

const get = async (app: TestApp, token: string, path: string): Promise<Json> => {
  const response = await app.request(`/api/v1${path}`, { headers: bearer(token) });
  expect(response.status).toBe(200);
  return readJson(response);
};
const call = async (app: TestApp, token: string, method: string, path: string, json?: unknown) => {
  const response = await app.request(`/api/v1${path}`, { method, headers: bearer(token), json });
  expect(response.status).toBeLessThan(300);
  return response.status === 204 ? null : readJson(response);
};
/** What the route answers with nothing cached: the oracle for the cached answer. */
async function fresh(app: TestApp, token: string, path: string): Promise<Json> {
  await app.infra.cache.clear('chat-*');
  return get(app, token, path);
}
const namespace = async (app: TestApp, name: string) =>
  (await readJson(await app.request('/api/v1/admin/cache/stats', { headers: { 'x-admin-key': adminKey } }))).namespaces[name];

/** Reads every path on `reader` (from its cache where it has them), then checks each equals a fresh answer. */
async function expectCurrent(reader: TestApp, oracle: TestApp, token: string, paths: string[]) {
  const cached = [];
  for (const path of paths) cached.push(await get(reader, token, path));
  for (const [i, path] of paths.entries()) expect({ path, answer: cached[i] }).toEqual({ path, answer: await fresh(oracle, token, path) });
  // Warm again, so the next write has cached answers to invalidate.
  for (const path of paths) await get(reader, token, path);
}

const lists = ['/chats', '/chats?limit=2', '/chats?archived=true', '/chats/stats'];

for (const [name, kind] of kinds) {
  describe(`cached chat lists and stats on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    test('happy: a repeated first page and stats are cache hits; deeper pages, filters and big pages are not cached', async () => {
      const account = await register(app);
      await createChat(app, account.accessToken, { title: 'one' });
      await get(app, account.accessToken, '/chats');
      const before = await namespace(app, 'chat-list');
      await get(app, account.accessToken, '/chats');
      await get(app, account.accessToken, '/chats?limit=5');
      const after = await namespace(app, 'chat-list');
      expect(after.l1.hits - before.l1.hits).toBe(2);
      expect(after.loads).toBe(before.loads);
      await get(app, account.accessToken, '/chats?q=one');
      await get(app, account.accessToken, '/chats?limit=100');
      expect((await namespace(app, 'chat-list')).l1.hits).toBe(after.l1.hits);

      await get(app, account.accessToken, '/chats/stats');
      const statsBefore = await namespace(app, 'chat-stats');
      await get(app, account.accessToken, '/chats/stats');
      expect((await namespace(app, 'chat-stats')).l1.hits - statsBefore.l1.hits).toBe(1);
    });

    test('happy: pages cut from the cached first page match the pages read afresh, cursors included', async () => {
      const account = await register(app);
      for (let i = 0; i < 5; i++) await createChat(app, account.accessToken, { title: `chat ${i}` });
      const page = await get(app, account.accessToken, '/chats?limit=2');
      expect(page.data).toHaveLength(2);
      expect(page).toEqual(await fresh(app, account.accessToken, '/chats?limit=2'));
      const next = await get(app, account.accessToken, `/chats?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`);
      expect(next.data.map((c: Json) => c.title)).toEqual(['chat 2', 'chat 1']);
      const all = await get(app, account.accessToken, '/chats?limit=5');
      expect(all.nextCursor).toBeNull();
      expect(all.data.map((c: Json) => c.title)).toEqual(['chat 4', 'chat 3', 'chat 2', 'chat 1', 'chat 0']);
    });

    test('happy: every write is seen at once: create, rename, pin, archive, send, regenerate, select, edit, feature, delete', async () => {
      const account = await register(app);
      const token = account.accessToken;
      const check = () => expectCurrent(app, app, token, lists);
      const first = await createChat(app, token, { title: 'first' });
      const second = await createChat(app, token, { title: 'second' });
      await check();
      await call(app, token, 'PATCH', `/chats/${first.id}`, { title: 'renamed' });
      await check();
      await call(app, token, 'PATCH', `/chats/${first.id}`, { pinned: true });
      await check();
      const sent = await sendJson(app, token, second.id, { content: 'hello there' });
      await check();
      expect((await get(app, token, '/chats')).data[1].id).toBe(second.id);
      expect((await get(app, token, '/chats/stats')).messages).toBe(2);
      await call(app, token, 'POST', `/chats/${second.id}/messages/${sent.assistantMessage.id}/regenerate`, { stream: false });
      await check();
      await call(app, token, 'POST', `/chats/${second.id}/messages/${sent.assistantMessage.id}/select`);
      await check();
      await call(app, token, 'PATCH', `/chats/${second.id}/messages/${sent.userMessage.id}`, {
        content: 'hello again, with more words',
        stream: false,
      });
      await check();
      // Back to the first version of the question: its shorter turn counts again.
      await call(app, token, 'POST', `/chats/${second.id}/messages/${sent.userMessage.id}/select`);
      await check();
      await app.request(`/api/v1/chats/${second.id}/featured`, {
        method: 'PATCH',
        headers: { 'x-admin-key': adminKey },
        json: { featured: true },
      });
      await check();
      await call(app, token, 'PATCH', `/chats/${second.id}`, { archived: true });
      await check();
      expect((await get(app, token, '/chats?archived=true')).data.map((c: Json) => c.id)).toEqual([second.id]);
      await call(app, token, 'DELETE', `/chats/${second.id}`);
      await check();
      expect((await get(app, token, '/chats/stats')).chats).toBe(1);
    });

    test('happy: stats read while a reply streams are dropped when it is stored: its tokens count at once', async () => {
      const slow = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '40' });
      try {
        const account = await register(slow);
        const chat = await createChat(slow, account.accessToken);
        const response = await slow.request(`/api/v1/chats/${chat.id}/messages`, {
          method: 'POST',
          headers: bearer(account.accessToken),
          json: { content: 'one two three four five six seven eight' },
        });
        expect(response.status).toBe(200);
        const during = await get(slow, account.accessToken, '/chats/stats');
        expect(during.tokens.output).toBe(0);
        await response.text();
        const after = await get(slow, account.accessToken, '/chats/stats');
        expect(after.tokens.output).toBeGreaterThan(0);
        expect(after).toEqual(await fresh(slow, account.accessToken, '/chats/stats'));
      } finally {
        await slow.close();
      }
    });
  });
}

const twoInstances = kinds.find(([, kind]) => kind.database === 'postgres' && kind.kv === 'redis');
describe.skipIf(!twoInstances)('cached chat lists and stats across two instances', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp(twoInstances![1], testEnv);
    b = await createSecondInstance(a, testEnv);
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  test('happy: a write on A is read on B at once, though B held the old answer in memory', async () => {
    const account = await register(a);
    const token = account.accessToken;
    const chat = await createChat(a, token, { title: 'before' });
    await expectCurrent(b, a, token, lists);
    await call(a, token, 'PATCH', `/chats/${chat.id}`, { title: 'after' });
    expect((await get(b, token, '/chats')).data[0].title).toBe('after');
    await sendJson(a, token, chat.id, { content: 'counted on B' });
    expect((await get(b, token, '/chats/stats')).messages).toBe(2);
    await expectCurrent(b, a, token, lists);
    await createChat(b, token, { title: 'made on B' });
    expect((await get(a, token, '/chats')).data[0].title).toBe('made on B');
    expect((await get(a, token, '/chats/stats')).chats).toBe(2);
  });
});
