// Admin user management: who may call it, the newest-first list with search and pages, and
// changes to role, tier and disabled, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { adminPatchUser, asAdmin, bearer, createApiKey, expectError, guest, readJson, register, testEnv } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

type AdminUser = { id: string; email: string | null; role: string; tier: string; disabled: boolean; createdAt: string };

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`admin users on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const list = async (query: string, headers: Record<string, string> = asAdmin) => {
      const response = await app.request(`/api/v1/admin/users${query}`, { headers });
      expect(response.status).toBe(200);
      return (await readJson(response)) as { data: AdminUser[]; nextCursor: string | null };
    };
    const patchUser = (id: string, json: unknown, headers: Record<string, string> = asAdmin) =>
      app.request(`/api/v1/admin/users/${id}`, { method: 'PATCH', headers, json });
    const tag = () => Math.random().toString(36).slice(2, 10);

    test('security: without credentials both routes are 401', async () => {
      const account = await register(app);
      await expectError(await app.request('/api/v1/admin/users'), 401, 'unauthorized');
      await expectError(await patchUser(account.userId, { tier: 'pro' }, {}), 401, 'unauthorized');
    });

    test('security: a normal user and a guest are 403, and cannot promote themselves', async () => {
      const account = await register(app);
      const visitor = await guest(app);
      await expectError(await app.request('/api/v1/admin/users', { headers: bearer(account.accessToken) }), 403, 'forbidden');
      await expectError(await app.request('/api/v1/admin/users', { headers: bearer(visitor.accessToken) }), 403, 'forbidden');
      await expectError(await patchUser(account.userId, { role: 'admin' }, bearer(account.accessToken)), 403, 'forbidden');
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }));
      expect(me.role).toBe('user');
    });

    test('security: a wrong X-Admin-Key is 401, even beside a valid user token', async () => {
      const account = await register(app);
      const wrong = { 'x-admin-key': 'wrong-admin-key-0123456789' };
      await expectError(await app.request('/api/v1/admin/users', { headers: wrong }), 401, 'unauthorized');
      await expectError(
        await app.request('/api/v1/admin/users', { headers: { ...wrong, ...bearer(account.accessToken) } }),
        401,
        'unauthorized',
      );
      await expectError(await app.request('/api/v1/admin/users', { headers: { 'x-admin-key': '' } }), 401, 'unauthorized');
      await expectError(await patchUser(account.userId, { role: 'admin' }, wrong), 401, 'unauthorized');
    });

    test('happy: the admin key, an admin-role user and its API key all work; demotion ends it at once', async () => {
      const promoted = await register(app);
      const key = await createApiKey(app, promoted.accessToken);
      await adminPatchUser(app, promoted.userId, { role: 'admin' });
      expect((await list('?limit=1', bearer(promoted.accessToken))).data).toHaveLength(1);
      expect((await list('?limit=1', bearer(key.key))).data).toHaveLength(1);
      const other = await register(app);
      const byAdminUser = await patchUser(other.userId, { tier: 'pro' }, bearer(promoted.accessToken));
      expect(byAdminUser.status).toBe(200);
      expect((await readJson(byAdminUser)).tier).toBe('pro');
      await adminPatchUser(app, promoted.userId, { role: 'user' });
      await expectError(await app.request('/api/v1/admin/users', { headers: bearer(promoted.accessToken) }), 403, 'forbidden');
      await expectError(await app.request('/api/v1/admin/users', { headers: bearer(key.key) }), 403, 'forbidden');
    });

    test('happy: the list is newest first and limit=2 walks every user once', async () => {
      const created = [await register(app), await register(app), await register(app)];
      const first = await list('?limit=2');
      expect(first.data.map((user) => user.id)).toEqual([created[2]!.userId, created[1]!.userId]);
      expect(first.nextCursor).not.toBeNull();
      expect(Object.keys(first.data[0]!).sort()).toEqual([
        'createdAt',
        'disabled',
        'email',
        'emailVerified',
        'id',
        'name',
        'role',
        'tier',
        'updatedAt',
      ]);
      const seen: AdminUser[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await list(cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2');
        expect(page.data.length).toBeGreaterThan(0);
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data);
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor && pages < 500);
      const all = await app.infra.db.run((q) => q.select({ id: app.infra.db.tables.users.id }).from(app.infra.db.tables.users));
      expect(seen.length).toBe(all.length);
      expect(new Set(seen.map((user) => user.id)).size).toBe(all.length);
      for (let i = 1; i < seen.length; i++) {
        expect(Date.parse(seen[i - 1]!.createdAt)).toBeGreaterThanOrEqual(Date.parse(seen[i]!.createdAt));
      }
      await expectError(await app.request('/api/v1/admin/users?cursor=garbage!', { headers: asAdmin }), 422, 'validation_error');
      await expectError(await app.request('/api/v1/admin/users?limit=101', { headers: asAdmin }), 422, 'validation_error');
    });

    test('happy: q searches emails case-insensitively and treats % and _ literally', async () => {
      const id = tag();
      const literal = await register(app, { email: `a_b%c-${id}@example.com` });
      const lookalike = await register(app, { email: `axbyc-${id}@example.com` });
      const other = await register(app, { email: `zzz-${id}@example.org` });
      const ids = async (q: string) => (await list(`?q=${encodeURIComponent(q)}`)).data.map((user) => user.id);
      expect(await ids(`_b%c-${id}`)).toEqual([literal.userId]);
      expect(await ids(`A_B%C-${id.toUpperCase()}`)).toEqual([literal.userId]);
      expect(await ids(`${id}@EXAMPLE.COM`)).toEqual([lookalike.userId, literal.userId]);
      expect(await ids(`${id}@example.org`)).toEqual([other.userId]);
      expect(await ids(`%c-${id}`)).toEqual([literal.userId]);
      expect(await ids(`a_b`)).toContain(literal.userId);
      expect(await ids(`a_b`)).not.toContain(lookalike.userId);
      expect(await ids(`nobody-${tag()}`)).toEqual([]);
      const paged = await list(`?q=${id}&limit=2`);
      expect(paged.data.map((user) => user.id)).toEqual([other.userId, lookalike.userId]);
      const rest = await list(`?q=${id}&limit=2&cursor=${encodeURIComponent(paged.nextCursor!)}`);
      expect(rest).toEqual({ data: [expect.objectContaining({ id: literal.userId })], nextCursor: null });
    });

    test('error: a q or an id holding a NUL character is answered without a 500', async () => {
      const search = await app.request('/api/v1/admin/users?q=a%00b', { headers: asAdmin });
      expect(search.status).toBeLessThan(500);
      const update = await patchUser('a%00b', { tier: 'pro' });
      expect(update.status).toBeLessThan(500);
    });

    test('happy: PATCH changes role, tier and disabled, and the list shows it', async () => {
      const account = await register(app);
      const response = await patchUser(account.userId, { tier: 'enterprise' });
      expect(response.status).toBe(200);
      expect(await readJson(response)).toMatchObject({ id: account.userId, tier: 'enterprise', role: 'user', disabled: false });
      expect(await adminPatchUser(app, account.userId, { role: 'admin', disabled: true })).toMatchObject({ role: 'admin', disabled: true });
      const [listed] = (await list(`?q=${encodeURIComponent(account.email)}`)).data;
      expect(listed).toMatchObject({ id: account.userId, role: 'admin', tier: 'enterprise', disabled: true });
      expect(await adminPatchUser(app, account.userId, { disabled: false, role: 'user', tier: 'free' })).toMatchObject({
        role: 'user',
        tier: 'free',
        disabled: false,
      });
    });

    test('error: an empty body, unknown values or an unknown id are refused', async () => {
      const account = await register(app);
      await expectError(await patchUser(account.userId, {}), 422, 'validation_error');
      await expectError(await patchUser(account.userId, { role: 'superuser' }), 422, 'validation_error');
      await expectError(await patchUser(account.userId, { tier: 'platinum' }), 422, 'validation_error');
      await expectError(await patchUser(account.userId, { disabled: 'yes' }), 422, 'validation_error');
      await expectError(await patchUser('01900000-0000-7000-8000-000000000000', { tier: 'pro' }), 404, 'not_found');
      const [unchanged] = (await list(`?q=${encodeURIComponent(account.email)}`)).data;
      expect(unchanged).toMatchObject({ role: 'user', tier: 'free', disabled: false });
    });

    test('happy: a role change shows in the user’s next /auth/me with the same token', async () => {
      const account = await register(app);
      await adminPatchUser(app, account.userId, { role: 'admin', tier: 'pro' });
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }));
      expect(me).toMatchObject({ id: account.userId, role: 'admin', tier: 'pro' });
    });

    test('error: a guest cannot be given a role (409), nor a user made a guest', async () => {
      const visitor = await guest(app);
      await expectError(await patchUser(visitor.userId, { role: 'user' }), 409, 'conflict');
      await expectError(await patchUser(visitor.userId, { role: 'admin' }), 409, 'conflict');
      const account = await register(app);
      await expectError(await patchUser(account.userId, { role: 'guest' }), 409, 'conflict');
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(visitor.accessToken) }));
      expect(me.role).toBe('guest');
    });
  });
}
