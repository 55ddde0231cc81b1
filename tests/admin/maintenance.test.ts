import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, login, readJson, register, testEnv } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`admin maintenance on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    test('security: only admins', async () => {
      const account = await register(app);
      for (const [method, path] of [
        ['GET', '/api/v1/admin/cache/stats'],
        ['POST', '/api/v1/admin/cache/clear'],
        ['POST', '/api/v1/admin/sessions/cleanup'],
      ] as const) {
        expect((await app.request(path, { method })).status).toBe(401);
        expect((await app.request(path, { method, headers: bearer(account.accessToken) })).status).toBe(403);
      }
    });

    test('happy: sessions cleanup deletes ended sessions and spent tokens, and keeps live ones', async () => {
      const account = await register(app);
      const second = await login(app, account.email, account.password);
      expect((await app.request('/api/v1/auth/logout', { method: 'POST', headers: bearer(second.accessToken) })).status).toBe(204);
      const rotated = await readJson(
        await app.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken: account.refreshToken } }),
      );

      const response = await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin });
      expect(response.status).toBe(200);
      const counts = await readJson(response);
      expect(counts.sessions).toBeGreaterThanOrEqual(1);
      const { sessions } = app.infra.db.tables;
      const left = await app.infra.db.run((q) => q.select().from(sessions).where(eq(sessions.userId, account.userId)));
      expect(left).toHaveLength(1);
      expect(left[0]!.revokedAt).toBeNull();
      expect((await app.request('/api/v1/auth/me', { headers: bearer(rotated.accessToken) })).status).toBe(200);
      expect((await app.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken: rotated.refreshToken } })).status).toBe(
        200,
      );
    });

    test('happy: the cache is counted and cleared by pattern, and nothing else is touched', async () => {
      await app.request('/api/v1/models');
      await app.infra.kv.set('cache:other', 'x');
      await app.infra.kv.set('not-cache', 'kept');
      const stats = await readJson(await app.request('/api/v1/admin/cache/stats', { headers: asAdmin }));
      expect(stats).toMatchObject({ kind: kind.kv, status: 'ok' });
      expect(stats.keys).toBeGreaterThanOrEqual(2);
      const cleared = await readJson(
        await app.request('/api/v1/admin/cache/clear', { method: 'POST', headers: asAdmin, json: { pattern: 'models*' } }),
      );
      expect(cleared).toEqual({ cleared: 1 });
      expect(await app.infra.kv.get('cache:models:all')).toBeNull();
      expect(await app.infra.kv.get('cache:other')).toBe('x');
      const all = await readJson(await app.request('/api/v1/admin/cache/clear', { method: 'POST', headers: asAdmin }));
      expect(all.cleared).toBeGreaterThanOrEqual(1);
      expect(await app.infra.kv.get('not-cache')).toBe('kept');
      expect((await readJson(await app.request('/api/v1/admin/cache/stats', { headers: asAdmin }))).keys).toBe(0);
    });
  });
}
