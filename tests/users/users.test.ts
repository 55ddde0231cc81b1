// The caller's own profile, preferences and usage, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, guest, readJson, register, testEnv } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

const dayOf = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`users on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const me = async (accessToken: string) => {
      const response = await app.request('/api/v1/users/me', { headers: bearer(accessToken) });
      expect(response.status).toBe(200);
      return readJson(response);
    };
    const patch = (path: string, accessToken: string, json: unknown) =>
      app.request(`/api/v1/users/me${path}`, { method: 'PATCH', headers: bearer(accessToken), json });
    const insertUsage = (
      rows: { userId: string; day: string; provider: string; model: string; requests: number; inputTokens: number; outputTokens: number }[],
    ) => app.infra.db.run((q) => q.insert(app.infra.db.tables.usageRecords).values(rows));

    test('happy: GET /users/me is the profile with preferences', async () => {
      const account = await register(app, { name: 'Grace' });
      const profile = await me(account.accessToken);
      expect(profile).toMatchObject({ ...account.user, avatarUrl: null, preferences: {} });
      expect(Object.keys(profile).sort()).toEqual(
        ['avatarUrl', 'createdAt', 'email', 'emailVerified', 'id', 'name', 'preferences', 'role', 'tier', 'updatedAt'].sort(),
      );
      expect(Number.isNaN(Date.parse(profile.updatedAt))).toBe(false);
      const visitor = await guest(app);
      expect(await me(visitor.accessToken)).toMatchObject({ id: visitor.userId, role: 'guest', email: null });
    });

    test('happy: PATCH /users/me sets name and avatarUrl, and null clears them', async () => {
      const account = await register(app);
      const response = await patch('', account.accessToken, { name: 'New Name', avatarUrl: 'https://cdn.example.com/a.png' });
      expect(response.status).toBe(200);
      expect(await readJson(response)).toMatchObject({ name: 'New Name', avatarUrl: 'https://cdn.example.com/a.png' });
      expect(await me(account.accessToken)).toMatchObject({ name: 'New Name', avatarUrl: 'https://cdn.example.com/a.png' });
      const onlyName = await readJson(await patch('', account.accessToken, { name: 'Renamed' }));
      expect(onlyName).toMatchObject({ name: 'Renamed', avatarUrl: 'https://cdn.example.com/a.png' });
      const cleared = await patch('', account.accessToken, { name: null, avatarUrl: null });
      expect(cleared.status).toBe(200);
      expect(await me(account.accessToken)).toMatchObject({ name: null, avatarUrl: null });
    });

    test('error: a non-http avatarUrl, an empty name or an unknown field is 422 and changes nothing', async () => {
      const account = await register(app, { name: 'Kept' });
      for (const avatarUrl of ['ftp://example.com/a.png', 'javascript:alert(1)', 'data:image/png;base64,AAAA', 'not a url']) {
        const body = await expectError(await patch('', account.accessToken, { avatarUrl }), 422, 'validation_error');
        expect(body.error.details.map((detail: { field: string }) => detail.field)).toContain('body.avatarUrl');
      }
      await expectError(await patch('', account.accessToken, { name: '' }), 422, 'validation_error');
      expect(await me(account.accessToken)).toMatchObject({ name: 'Kept', avatarUrl: null });
    });

    test('security: fields outside name and avatarUrl (role, tier, email) never change anything', async () => {
      const account = await register(app, { name: 'Kept' });
      const response = await patch('', account.accessToken, {
        role: 'admin',
        tier: 'enterprise',
        email: 'taken@example.com',
        emailVerified: true,
      });
      const body = await expectError(response, 422, 'validation_error');
      expect(body.error.details.map((detail: { field: string }) => detail.field)).toEqual(
        expect.arrayContaining(['body.role', 'body.tier']),
      );
      expect(await me(account.accessToken)).toMatchObject({ ...account.user, name: 'Kept' });
    });

    test('happy: preferences merge key by key, and null removes a key', async () => {
      const account = await register(app);
      const first = await patch('/preferences', account.accessToken, { theme: 'dark', language: 'en', editor: { tabs: 2 } });
      expect(first.status).toBe(200);
      expect((await readJson(first)).preferences).toEqual({ theme: 'dark', language: 'en', editor: { tabs: 2 } });
      const second = await readJson(await patch('/preferences', account.accessToken, { language: null, fontSize: 14 }));
      expect(second.preferences).toEqual({ theme: 'dark', editor: { tabs: 2 }, fontSize: 14 });
      expect((await me(account.accessToken)).preferences).toEqual({ theme: 'dark', editor: { tabs: 2 }, fontSize: 14 });
      expect((await readJson(await patch('/preferences', account.accessToken, {}))).preferences).toEqual(second.preferences);
    });

    test('error: preferences over 16 KiB are 413 and nothing changes', async () => {
      const account = await register(app);
      await patch('/preferences', account.accessToken, { theme: 'light' });
      await expectError(await patch('/preferences', account.accessToken, { big: 'x'.repeat(17 * 1024) }), 413, 'payload_too_large');
      // Each part fits; together they would not.
      expect((await patch('/preferences', account.accessToken, { half: 'y'.repeat(9000) })).status).toBe(200);
      await expectError(
        await patch('/preferences', account.accessToken, { other: 'z'.repeat(9000), theme: 'dark' }),
        413,
        'payload_too_large',
      );
      const stored = (await me(account.accessToken)).preferences;
      expect(Object.keys(stored).sort()).toEqual(['half', 'theme']);
      expect(stored.theme).toBe('light');
    });

    test('error: a preferences body that is not an object is 422', async () => {
      const account = await register(app);
      await patch('/preferences', account.accessToken, { theme: 'dark' });
      const statuses: Record<string, number> = {};
      for (const body of ['[1,2]', '[]', '"dark"', '42', 'true', 'null']) {
        const response = await app.request('/api/v1/users/me/preferences', {
          method: 'PATCH',
          headers: { ...bearer(account.accessToken), 'content-type': 'application/json' },
          body,
        });
        statuses[body] = response.status;
        if (response.status === 422) await expectError(response, 422, 'validation_error');
        else await response.arrayBuffer();
      }
      expect(statuses).toEqual({ '[1,2]': 422, '[]': 422, '"dark"': 422, '42': 422, true: 422, null: 422 });
      expect((await me(account.accessToken)).preferences).toEqual({ theme: 'dark' });
    });

    test('error: a NUL character in a name or in preferences is refused without a 500', async () => {
      const account = await register(app, { name: 'Kept' });
      const probes: [string, unknown][] = [
        ['', { name: 'Ada\u0000Lovelace' }],
        ['/preferences', { theme: 'dark\u0000' }],
        ['/preferences', { 'theme\u0000': 'dark' }],
      ];
      const failures: string[] = [];
      for (const [path, body] of probes) {
        const response = await patch(path, account.accessToken, body);
        if (response.status >= 500) failures.push(`PATCH /users/me${path} ${JSON.stringify(body)} -> ${response.status}`);
        await response.arrayBuffer();
      }
      expect(failures).toEqual([]);
    });

    test('happy: usage sums requests and tokens by day and by model within the window', async () => {
      const account = await register(app);
      const other = await register(app);
      const [today, yesterday, old] = [dayOf(0), dayOf(1), dayOf(40)];
      const gpt = { provider: 'openai', model: 'gpt-4o' };
      const claude = { provider: 'anthropic', model: 'claude-sonnet' };
      await insertUsage([
        { userId: account.userId, day: today, ...gpt, requests: 2, inputTokens: 100, outputTokens: 50 },
        { userId: account.userId, day: today, ...claude, requests: 1, inputTokens: 10, outputTokens: 5 },
        { userId: account.userId, day: yesterday, ...gpt, requests: 3, inputTokens: 300, outputTokens: 150 },
        { userId: account.userId, day: old, ...gpt, requests: 7, inputTokens: 700, outputTokens: 700 },
        { userId: other.userId, day: today, ...gpt, requests: 99, inputTokens: 9999, outputTokens: 9999 },
        { userId: other.userId, day: today, provider: 'secret', model: 'other-users-model', requests: 1, inputTokens: 1, outputTokens: 1 },
      ]);
      const response = await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) });
      expect(response.status).toBe(200);
      const usage = await readJson(response);
      expect(Object.keys(usage).sort()).toEqual(['byDay', 'byModel', 'from', 'to', 'totals']);
      expect(usage.from).toBe(dayOf(29));
      expect(usage.to).toBe(today);
      expect(usage.totals).toEqual({ requests: 6, inputTokens: 410, outputTokens: 205 });
      expect(usage.byDay).toEqual([
        { day: yesterday, requests: 3, inputTokens: 300, outputTokens: 150 },
        { day: today, requests: 3, inputTokens: 110, outputTokens: 55 },
      ]);
      expect(usage.byModel).toHaveLength(2);
      expect(usage.byModel).toContainEqual({ ...gpt, requests: 5, inputTokens: 400, outputTokens: 200 });
      expect(usage.byModel).toContainEqual({ ...claude, requests: 1, inputTokens: 10, outputTokens: 5 });
      expect(JSON.stringify(usage)).not.toContain('other-users-model');

      const wide = await readJson(await app.request('/api/v1/users/me/usage?days=60', { headers: bearer(account.accessToken) }));
      expect(wide.totals).toEqual({ requests: 13, inputTokens: 1110, outputTokens: 905 });
      expect(wide.byDay[0]).toEqual({ day: old, requests: 7, inputTokens: 700, outputTokens: 700 });
      const narrow = await readJson(await app.request('/api/v1/users/me/usage?days=1', { headers: bearer(account.accessToken) }));
      expect(narrow.from).toBe(today);
      expect(narrow.totals).toEqual({ requests: 3, inputTokens: 110, outputTokens: 55 });
    });

    test('happy: a user without usage gets zeros and empty lists; error: a bad days is 422', async () => {
      const account = await register(app);
      const usage = await readJson(await app.request('/api/v1/users/me/usage?days=7', { headers: bearer(account.accessToken) }));
      expect(usage).toEqual({
        from: dayOf(6),
        to: dayOf(0),
        totals: { requests: 0, inputTokens: 0, outputTokens: 0 },
        byDay: [],
        byModel: [],
      });
      for (const days of ['0', '367', 'week', '1.5']) {
        await expectError(
          await app.request(`/api/v1/users/me/usage?days=${days}`, { headers: bearer(account.accessToken) }),
          422,
          'validation_error',
        );
      }
    });

    test('security: every users route is 401 without credentials', async () => {
      const routes: [string, string, unknown][] = [
        ['GET', '/api/v1/users/me', undefined],
        ['PATCH', '/api/v1/users/me', { name: 'x' }],
        ['PATCH', '/api/v1/users/me/preferences', { theme: 'dark' }],
        ['GET', '/api/v1/users/me/usage', undefined],
      ];
      for (const [method, path, json] of routes) {
        await expectError(await app.request(path, { method, json }), 401, 'unauthorized');
        await expectError(await app.request(path, { method, json, headers: bearer('not-a-token') }), 401, 'unauthorized');
      }
    });
  });
}
