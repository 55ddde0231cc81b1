// API keys: created once-visible, usable wherever a token is, expiring, revocable, private to
// their owner, and listed page by page, on every storage kind.
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, expectError, guest, meStatus, readJson, register, testEnv } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`api keys on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const listKeys = async (accessToken: string, query = '') => {
      const response = await app.request(`/api/v1/auth/api-keys${query}`, { headers: bearer(accessToken) });
      expect(response.status).toBe(200);
      return readJson(response);
    };
    const revoke = (accessToken: string, id: string) =>
      app.request(`/api/v1/auth/api-keys/${id}`, { method: 'DELETE', headers: bearer(accessToken) });

    test('happy: create is 201 with a pk_ key shown once; the list has only its prefix', async () => {
      const account = await register(app);
      const response = await app.request('/api/v1/auth/api-keys', {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { name: 'laptop' },
      });
      expect(response.status).toBe(201);
      const created = await readJson(response);
      expect(Object.keys(created).sort()).toEqual([
        'allowedModels',
        'createdAt',
        'expiresAt',
        'id',
        'key',
        'lastUsedAt',
        'monthlyTokenBudget',
        'name',
        'prefix',
        'requestsPerMinute',
        'tokensPerMinute',
      ]);
      expect(created).toMatchObject({ name: 'laptop', expiresAt: null, lastUsedAt: null });
      expect(created.key).toStartWith('pk_');
      expect(created.key.length).toBeGreaterThanOrEqual(40);
      expect(created.key.startsWith(created.prefix)).toBe(true);
      expect(created.prefix.length).toBeLessThan(created.key.length / 2);
      const list = await listKeys(account.accessToken);
      expect(list.nextCursor).toBeNull();
      expect(list.data).toHaveLength(1);
      expect(list.data[0]).toEqual({
        id: created.id,
        name: 'laptop',
        prefix: created.prefix,
        createdAt: created.createdAt,
        expiresAt: null,
        lastUsedAt: null,
        // No limits unless set (tests/auth/api-key-limits.test.ts).
        allowedModels: null,
        requestsPerMinute: null,
        tokensPerMinute: null,
        monthlyTokenBudget: null,
      });
      expect(JSON.stringify(list)).not.toContain(created.key);
    });

    test('happy: the key authenticates /auth/me and /users/me as its owner', async () => {
      const account = await register(app);
      const { key } = await createApiKey(app, account.accessToken);
      const me = await app.request('/api/v1/auth/me', { headers: bearer(key) });
      expect(me.status).toBe(200);
      expect((await readJson(me)).id).toBe(account.userId);
      const profile = await app.request('/api/v1/users/me', { headers: bearer(key) });
      expect(profile.status).toBe(200);
      expect((await readJson(profile)).email).toBe(account.email);
    });

    test('happy: using a key sets its lastUsedAt', async () => {
      const account = await register(app);
      const created = await createApiKey(app, account.accessToken);
      const before = Date.now();
      expect(await meStatus(app, created.key)).toBe(200);
      let lastUsedAt: string | null = null;
      for (let attempt = 0; attempt < 100 && !lastUsedAt; attempt++) {
        lastUsedAt = (await listKeys(account.accessToken)).data[0].lastUsedAt;
        if (!lastUsedAt) await Bun.sleep(20);
      }
      expect(lastUsedAt).not.toBeNull();
      expect(Date.parse(lastUsedAt!)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(lastUsedAt!)).toBeLessThanOrEqual(Date.now() + 1000);
    });

    test('error: an expiresAt in the past, or not a time, is 422 naming body.expiresAt', async () => {
      const account = await register(app);
      for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), 'next tuesday']) {
        const response = await app.request('/api/v1/auth/api-keys', {
          method: 'POST',
          headers: bearer(account.accessToken),
          json: { name: 'old', expiresAt },
        });
        const body = await expectError(response, 422, 'validation_error');
        expect(body.error.details.map((detail: { field: string }) => detail.field)).toContain('body.expiresAt');
      }
      const noName = await app.request('/api/v1/auth/api-keys', {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { name: '' },
      });
      await expectError(noName, 422, 'validation_error');
      expect((await listKeys(account.accessToken)).data).toHaveLength(0);
    });

    test('security: a key past its expiresAt is refused with 401', async () => {
      const account = await register(app);
      const expiresAt = new Date(Date.now() + 60_000);
      const created = await createApiKey(app, account.accessToken, { name: 'short-lived', expiresAt: expiresAt.toISOString() });
      expect(Date.parse(created.expiresAt!)).toBe(expiresAt.getTime());
      expect(await meStatus(app, created.key)).toBe(200);
      // The clock moves on instead of the test waiting for it: valid until its last second, refused once past.
      try {
        setSystemTime(new Date(expiresAt.getTime() - 1000));
        expect(await meStatus(app, created.key)).toBe(200);
        setSystemTime(new Date(expiresAt.getTime() + 100));
        await expectError(await app.request('/api/v1/auth/me', { headers: bearer(created.key) }), 401, 'unauthorized');
      } finally {
        setSystemTime();
      }
    });

    test('security: a revoked key is 401 at once and leaves the list; revoking again is 404', async () => {
      const account = await register(app);
      const kept = await createApiKey(app, account.accessToken, { name: 'kept' });
      const doomed = await createApiKey(app, account.accessToken, { name: 'doomed' });
      expect(await meStatus(app, doomed.key)).toBe(200);
      expect((await revoke(account.accessToken, doomed.id)).status).toBe(204);
      await expectError(await app.request('/api/v1/users/me', { headers: bearer(doomed.key) }), 401, 'unauthorized');
      expect(await meStatus(app, kept.key)).toBe(200);
      expect((await listKeys(account.accessToken)).data.map((key: { id: string }) => key.id)).toEqual([kept.id]);
      await expectError(await revoke(account.accessToken, doomed.id), 404, 'not_found');
    });

    test('security: revoking another user’s key is 404 and the key keeps working', async () => {
      const owner = await register(app);
      const intruder = await register(app);
      const created = await createApiKey(app, owner.accessToken);
      await expectError(await revoke(intruder.accessToken, created.id), 404, 'not_found');
      await expectError(await revoke(intruder.accessToken, 'no-such-key'), 404, 'not_found');
      expect(await meStatus(app, created.key)).toBe(200);
      expect((await listKeys(intruder.accessToken)).data).toEqual([]);
    });

    test('security: an unknown pk_ key is 401', async () => {
      await expectError(await app.request('/api/v1/auth/me', { headers: bearer(`pk_${'x'.repeat(43)}`) }), 401, 'unauthorized');
    });

    test('error: a key name or id holding a NUL character is answered without a 500', async () => {
      const account = await register(app);
      const create = await app.request('/api/v1/auth/api-keys', {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { name: 'ci\u0000' },
      });
      expect(create.status).toBeLessThan(500);
      expect((await revoke(account.accessToken, 'a%00b')).status).toBeLessThan(500);
    });

    test('error: guests cannot create or list keys (403)', async () => {
      const visitor = await guest(app);
      const create = await app.request('/api/v1/auth/api-keys', {
        method: 'POST',
        headers: bearer(visitor.accessToken),
        json: { name: 'guest key' },
      });
      await expectError(create, 403, 'forbidden');
      await expectError(await app.request('/api/v1/auth/api-keys', { headers: bearer(visitor.accessToken) }), 403, 'forbidden');
      await expectError(await app.request('/api/v1/auth/api-keys', { method: 'POST', json: { name: 'anonymous' } }), 401, 'unauthorized');
    });

    test('happy: keys paginate newest first with limit=2 without repeats; a bad cursor is 422', async () => {
      const account = await register(app);
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push((await createApiKey(app, account.accessToken, { name: `key ${i}` })).id);
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
        const page = await listKeys(account.accessToken, query);
        sizes.push(page.data.length);
        seen.push(...page.data.map((key: { id: string }) => key.id));
        cursor = page.nextCursor;
      } while (cursor && sizes.length < 10);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(created.toReversed());
      const bad = await app.request('/api/v1/auth/api-keys?cursor=%%%', { headers: bearer(account.accessToken) });
      await expectError(bad, 422, 'validation_error');
    });
  });
}
