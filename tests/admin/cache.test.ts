// The two-layer cache (issue "Cache and quotas", point 1): an LRU per process in front of the
// KV, read-through, one load per key per instance, invalidated on every instance by writes;
// admin stats and clear; counters in /metrics. On every storage kind, and across two instances.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { adminPatchUser, asAdmin, bearer, createChat, readJson, register, testEnv } from '../helpers/client.ts';

const stats = async (app: TestApp) => readJson(await app.request('/api/v1/admin/cache/stats', { headers: asAdmin }));
const me = async (app: TestApp, token: string) => readJson(await app.request('/api/v1/users/me', { headers: bearer(token) }));

for (const [name, kind] of kinds) {
  describe(`two-layer cache on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    test('happy: a repeated read is an L1 hit; the first is a miss in both layers and one load', async () => {
      const account = await register(app);
      const before = (await stats(app)).namespaces.profiles ?? { l1: { hits: 0, misses: 0 }, l2: { hits: 0, misses: 0 }, loads: 0 };
      expect((await me(app, account.accessToken)).id).toBe(account.userId);
      expect((await me(app, account.accessToken)).id).toBe(account.userId);
      const after = (await stats(app)).namespaces.profiles;
      expect(after.l1.misses - before.l1.misses).toBe(1);
      expect(after.l2.misses - before.l2.misses).toBe(1);
      expect(after.loads - before.loads).toBe(1);
      expect(after.l1.hits - before.l1.hits).toBe(1);
      expect(after.l1.keys).toBeGreaterThanOrEqual(1);
      expect(after.l2.keys).toBeGreaterThanOrEqual(1);
      expect(after.l1.hitRate).toBeGreaterThan(0);
    });

    test('happy: 100 concurrent misses make one load, and all get its value', async () => {
      const ns = app.infra.cache.namespace<{ n: number }>('test-burst', { l1TtlMs: 5_000, l2TtlMs: 5_000 });
      let loads = 0;
      const loader = async () => {
        loads++;
        await Bun.sleep(20);
        return { n: 42 };
      };
      const values = await Promise.all(Array.from({ length: 100 }, () => ns.get('k', loader)));
      expect(loads).toBe(1);
      expect(values.every((value) => value.n === 42)).toBe(true);
      await ns.invalidate('k');
      expect(await ns.get('k', async () => ({ n: 43 }))).toEqual({ n: 43 });
    });

    test('error: a failing load is not cached and reaches every waiting caller', async () => {
      const ns = app.infra.cache.namespace<string>('test-fail', { l1TtlMs: 5_000, l2TtlMs: 5_000 });
      const results = await Promise.allSettled([1, 2, 3].map(() => ns.get('k', () => Promise.reject(new Error('boom')))));
      expect(results.every((result) => result.status === 'rejected')).toBe(true);
      expect(await ns.get('k', async () => 'ok')).toBe('ok');
    });

    test('happy: own writes are seen at once (profile, preferences, admin PATCH, categories, featured)', async () => {
      const account = await register(app);
      const token = account.accessToken;
      await me(app, token);
      await app.request('/api/v1/users/me', { method: 'PATCH', headers: bearer(token), json: { name: 'Renamed' } });
      expect((await me(app, token)).name).toBe('Renamed');
      await app.request('/api/v1/users/me/preferences', { method: 'PATCH', headers: bearer(token), json: { theme: 'dark' } });
      expect((await me(app, token)).preferences).toMatchObject({ theme: 'dark' });
      await adminPatchUser(app, account.userId, { tier: 'pro' });
      expect((await me(app, token)).tier).toBe('pro');

      const categories = async () => readJson(await app.request('/api/v1/chats/categories', { headers: bearer(token) }));
      expect((await categories()).data).toEqual([]);
      const chat = await createChat(app, token, { title: 'Work chat', category: 'work' });
      expect((await categories()).data).toEqual([{ category: 'work', count: 1 }]);
      await app.request(`/api/v1/chats/${chat.id}`, { method: 'PATCH', headers: bearer(token), json: { category: 'play' } });
      expect((await categories()).data).toEqual([{ category: 'play', count: 1 }]);

      const featured = async () => readJson(await app.request('/api/v1/chats/featured'));
      const listed = async () => ((await featured()).data as { id: string; title: string }[]).find((row) => row.id === chat.id);
      expect(await listed()).toBeUndefined();
      await app.request(`/api/v1/chats/${chat.id}/featured`, { method: 'PATCH', headers: asAdmin, json: { featured: true } });
      expect((await listed())?.title).toBe('Work chat');
      await app.request(`/api/v1/chats/${chat.id}`, { method: 'PATCH', headers: bearer(token), json: { title: 'Showcase' } });
      expect((await listed())?.title).toBe('Showcase');
      expect((await app.request(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(token) })).status).toBe(204);
      expect(await listed()).toBeUndefined();
      expect((await categories()).data).toEqual([]);
    });

    test('security: each caller reads their own cached profile', async () => {
      const [first, second] = await Promise.all([register(app), register(app)]);
      for (let i = 0; i < 2; i++) {
        expect((await me(app, first.accessToken)).id).toBe(first.userId);
        expect((await me(app, second.accessToken)).id).toBe(second.userId);
      }
    });

    test('happy: admin stats per layer and namespace; clear by pattern drops both layers of that namespace only', async () => {
      const account = await register(app);
      await app.request('/api/v1/models');
      await me(app, account.accessToken);
      const full = await stats(app);
      expect(full).toMatchObject({ kind: kind.kv, status: 'ok' });
      for (const layer of [full.l1, full.l2]) expect(Object.keys(layer).sort()).toEqual(['hitRate', 'hits', 'keys', 'misses']);
      expect(full.namespaces.models.l2.keys).toBe(1);
      expect(full.namespaces.profiles.l1.keys).toBeGreaterThanOrEqual(1);

      const cleared = await readJson(
        await app.request('/api/v1/admin/cache/clear', { method: 'POST', headers: asAdmin, json: { pattern: 'profiles:*' } }),
      );
      expect(cleared.cleared).toBeGreaterThanOrEqual(1);
      const after = await stats(app);
      expect(after.namespaces.profiles.l1.keys).toBe(0);
      expect(after.namespaces.profiles.l2.keys).toBe(0);
      expect(after.namespaces.models.l2.keys).toBe(1);
      expect(after.namespaces.models.l1.keys).toBe(1);
      // The next read loads again.
      expect((await me(app, account.accessToken)).id).toBe(account.userId);
      expect((await stats(app)).namespaces.profiles.loads).toBe(after.namespaces.profiles.loads + 1);
    });

    test('security: clear and stats are for admins only, and a pattern never reaches keys outside the cache', async () => {
      const account = await register(app);
      expect((await app.request('/api/v1/admin/cache/stats', { headers: bearer(account.accessToken) })).status).toBe(403);
      await app.infra.kv.set('outside', 'kept');
      await app.request('/api/v1/admin/cache/clear', { method: 'POST', headers: asAdmin, json: { pattern: '*' } });
      expect(await app.infra.kv.get('outside')).toBe('kept');
    });

    test('happy: /metrics carries the cache counters per namespace and layer', async () => {
      await app.request('/api/v1/models');
      await app.request('/api/v1/models');
      const text = await (await app.request('/metrics')).text();
      expect(text).toContain('# TYPE parley_cache_hits_total counter');
      expect(text).toMatch(/parley_cache_hits_total\{namespace="models",layer="l1"\} [1-9]/);
      expect(text).toMatch(/parley_cache_misses_total\{namespace="models",layer="l2"\} \d+/);
      expect(text).toMatch(/parley_cache_loads_total\{namespace="models"\} [1-9]/);
    });
  });
}

const twoInstances = kinds.find(([, kind]) => kind.kv === 'redis');
describe.skipIf(!twoInstances)('two-layer cache across two instances', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp(twoInstances![1], testEnv);
    b = await createSecondInstance(a, testEnv);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test('happy: a write on A is read on B at once (profile, preferences, admin PATCH)', async () => {
    const account = await register(a);
    const token = account.accessToken;
    for (const app of [a, b]) await me(app, token);
    for (const app of [a, b]) await me(app, token); // both L1s now hold it
    await a.request('/api/v1/users/me', { method: 'PATCH', headers: bearer(token), json: { name: 'From A' } });
    expect((await me(b, token)).name).toBe('From A');
    await b.request('/api/v1/users/me/preferences', { method: 'PATCH', headers: bearer(token), json: { lang: 'fr' } });
    expect((await me(a, token)).preferences).toMatchObject({ lang: 'fr' });
    await adminPatchUser(b, account.userId, { tier: 'pro' });
    expect((await me(a, token)).tier).toBe('pro');
  });

  test('happy: featuring on A and renaming on B are seen on the other at once', async () => {
    const account = await register(a);
    const chat = await createChat(a, account.accessToken, { title: 'Before' });
    const titleOn = async (app: TestApp) =>
      ((await readJson(await app.request('/api/v1/chats/featured'))).data as { id: string; title: string }[]).find(
        (row) => row.id === chat.id,
      )?.title;
    expect(await titleOn(b)).toBeUndefined();
    await a.request(`/api/v1/chats/${chat.id}/featured`, { method: 'PATCH', headers: asAdmin, json: { featured: true } });
    expect(await titleOn(b)).toBe('Before');
    await b.request(`/api/v1/chats/${chat.id}`, { method: 'PATCH', headers: bearer(account.accessToken), json: { title: 'After' } });
    expect(await titleOn(a)).toBe('After');
  });

  test('happy: an admin clear on A drops the model list from B’s memory too', async () => {
    const real = await readJson(await b.request('/api/v1/models'));
    await a.request('/api/v1/admin/cache/clear', { method: 'POST', headers: asAdmin, json: { pattern: 'models*' } });
    // A value only the KV holds (as if the list changed upstream), read into B's L1.
    await a.infra.kv.set('cache:models:all', JSON.stringify([{ id: 'stale', provider: 'echo', name: 'stale', capabilities: [] }]));
    expect((await readJson(await b.request('/api/v1/models'))).data[0].id).toBe('stale');
    expect((await readJson(await b.request('/api/v1/models'))).data[0].id).toBe('stale');
    await a.request('/api/v1/admin/cache/clear', { method: 'POST', headers: asAdmin, json: { pattern: 'models*' } });
    expect((await readJson(await b.request('/api/v1/models'))).data).toEqual(real.data);
  });
});
