// The audit log: every admin action (role, tier and disabled changes, featuring, cache clears,
// session clean-ups, Ollama model start/stop) leaves one entry naming who, when, what and from
// where; failed actions and reads leave none; GET /admin/audit-log filters and pages them. On
// every storage kind, with TRUST_PROXY so the client address is the one the test sends.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  adminPatchUser,
  asAdmin,
  bearer,
  createApiKey,
  createChat,
  expectError,
  expectStatus,
  guest,
  type Json,
  register,
} from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ ollamaModels: ['llama3'] });
});
afterAll(() => fake.stop());

type Entry = {
  id: string;
  at: string;
  actor: { userId: string | null; email: string | null; credential: string };
  action: string;
  target: { type: string; id: string } | null;
  before: Json;
  after: Json;
  details: Json;
  method: string;
  path: string;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
};

for (const [name, kind] of kinds) {
  describe(`audit log on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake, { TRUST_PROXY: 'true' }));
    });
    afterAll(() => app.close());

    let ipCounter = 0;
    /** A client address no other test uses, and a user agent naming it: each action is findable by its origin. */
    const origin = () => {
      ipCounter += 1;
      const ip = `203.0.113.${ipCounter}`;
      return { 'x-forwarded-for': `${ip}, 10.0.0.1`, 'user-agent': `audit-test/${ipCounter}`, ip };
    };
    const from = ({ ip: _, ...headers }: ReturnType<typeof origin>) => headers;
    const log = async (query = '', headers: Record<string, string> = asAdmin): Promise<{ data: Entry[]; nextCursor: string | null }> =>
      expectStatus(await app.request(`/api/v1/admin/audit-log${query}`, { headers }), 200);
    /** The entries written from one address (the tests run in order in one app, so others' entries are there too). */
    const entriesFrom = async (ip: string) => (await log('?limit=100')).data.filter((entry) => entry.ip === ip);

    test('happy: a tier change by the admin key names the key, the user, before and after, the address and the request', async () => {
      const target = await register(app);
      const where = origin();
      const response = await app.request(`/api/v1/admin/users/${target.userId}`, {
        method: 'PATCH',
        headers: { ...asAdmin, ...from(where) },
        json: { tier: 'pro' },
      });
      await expectStatus(response, 200);
      const [entry, ...more] = await entriesFrom(where.ip);
      expect(more).toEqual([]);
      expect(entry).toMatchObject({
        actor: { userId: null, email: null, credential: 'adminKey' },
        action: 'user.update',
        target: { type: 'user', id: target.userId },
        before: { tier: 'free' },
        after: { tier: 'pro' },
        details: null,
        method: 'PATCH',
        path: '/api/v1/admin/users/:id',
        ip: where.ip,
        userAgent: where['user-agent'],
        requestId: response.headers.get('x-request-id'),
      });
      expect(Math.abs(Date.parse(entry!.at) - Date.now())).toBeLessThan(60_000);
    });

    test('happy: an admin-role user is named by id and email; role and disabled changes keep only the fields changed', async () => {
      const admin = await register(app);
      await adminPatchUser(app, admin.userId, { role: 'admin' });
      const target = await register(app);
      const where = origin();
      await expectStatus(
        await app.request(`/api/v1/admin/users/${target.userId}`, {
          method: 'PATCH',
          headers: { ...bearer(admin.accessToken), ...from(where) },
          json: { role: 'admin', disabled: true },
        }),
        200,
      );
      const key = await createApiKey(app, admin.accessToken);
      const byKey = origin();
      await expectStatus(
        await app.request(`/api/v1/admin/users/${target.userId}`, {
          method: 'PATCH',
          headers: { ...bearer(key.key), ...from(byKey) },
          json: { disabled: false },
        }),
        200,
      );
      expect(await entriesFrom(where.ip)).toMatchObject([
        {
          actor: { userId: admin.userId, email: admin.email, credential: 'token' },
          action: 'user.update',
          before: { role: 'user', disabled: false },
          after: { role: 'admin', disabled: true },
        },
      ]);
      expect(await entriesFrom(byKey.ip)).toMatchObject([
        { actor: { userId: admin.userId, credential: 'apiKey' }, before: { disabled: true }, after: { disabled: false } },
      ]);
    });

    test('happy: featuring a chat, clearing the cache and cleaning up sessions each leave their entry', async () => {
      const owner = await register(app);
      const chat = await createChat(app, owner.accessToken, { title: 'Audited' });
      const feature = origin();
      const featured = await app.request(`/api/v1/chats/${chat.id}/featured`, {
        method: 'PATCH',
        headers: { ...asAdmin, ...from(feature) },
        json: { featured: true },
      });
      expect((await expectStatus(featured, 200)).featured).toBe(true);
      expect(await entriesFrom(feature.ip)).toMatchObject([
        {
          action: 'chat.feature',
          target: { type: 'chat', id: chat.id },
          before: { featured: false },
          after: { featured: true },
          path: '/api/v1/chats/:id/featured',
        },
      ]);

      const clear = origin();
      const cleared = await expectStatus(
        await app.request('/api/v1/admin/cache/clear', {
          method: 'POST',
          headers: { ...asAdmin, ...from(clear) },
          json: { pattern: 'models*' },
        }),
        200,
      );
      expect(await entriesFrom(clear.ip)).toMatchObject([
        { action: 'cache.clear', target: { type: 'cache', id: 'models*' }, details: { pattern: 'models*', cleared: cleared.cleared } },
      ]);

      const cleanup = origin();
      const report = await expectStatus(
        await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: { ...asAdmin, ...from(cleanup) } }),
        200,
      );
      expect(await entriesFrom(cleanup.ip)).toMatchObject([{ action: 'sessions.cleanup', target: null, details: report }]);
    });

    test('happy: starting and stopping an Ollama model are audited with the model and its status after', async () => {
      const start = origin();
      await expectStatus(
        await app.request('/api/v1/models/start', { method: 'POST', headers: { ...asAdmin, ...from(start) }, json: { model: 'llama3' } }),
        200,
      );
      const stop = origin();
      await expectStatus(
        await app.request('/api/v1/models/stop', { method: 'POST', headers: { ...asAdmin, ...from(stop) }, json: { model: 'llama3' } }),
        200,
      );
      expect(await entriesFrom(start.ip)).toMatchObject([
        { action: 'model.start', target: { type: 'model', id: 'ollama/llama3' }, after: { model: 'llama3', loaded: true } },
      ]);
      expect(await entriesFrom(stop.ip)).toMatchObject([
        { action: 'model.stop', target: { type: 'model', id: 'ollama/llama3' }, after: { model: 'llama3', loaded: false } },
      ]);
    });

    test('error: an action that fails (404, 409, 422, upstream 404) or is refused (403) leaves no entry; nor do reads', async () => {
      const where = origin();
      const headers = { ...asAdmin, ...from(where) };
      const visitor = await guest(app);
      await expectError(
        await app.request(`/api/v1/admin/users/${crypto.randomUUID()}`, { method: 'PATCH', headers, json: { tier: 'pro' } }),
        404,
        'not_found',
      );
      await expectError(
        await app.request(`/api/v1/admin/users/${visitor.userId}`, { method: 'PATCH', headers, json: { role: 'admin' } }),
        409,
        'conflict',
      );
      await expectError(
        await app.request(`/api/v1/admin/users/${visitor.userId}`, { method: 'PATCH', headers, json: { tier: 'gold' } }),
        422,
        'validation_error',
      );
      await expectError(
        await app.request('/api/v1/models/start', { method: 'POST', headers, json: { model: 'not-installed' } }),
        404,
        'not_found',
      );
      const user = await register(app);
      const userWhere = origin();
      await expectError(
        await app.request('/api/v1/admin/cache/clear', { method: 'POST', headers: { ...bearer(user.accessToken), ...from(userWhere) } }),
        403,
        'forbidden',
      );
      await expectStatus(await app.request('/api/v1/admin/users', { headers }), 200);
      await expectStatus(await app.request('/api/v1/admin/overview', { headers }), 200);
      await expectStatus(await app.request('/api/v1/admin/cache/stats', { headers }), 200);
      expect(await entriesFrom(where.ip)).toEqual([]);
      expect(await entriesFrom(userWhere.ip)).toEqual([]);
    });

    test('happy: filters by action, actor, target, target type and time combine; pages of 2 walk every entry once, newest first', async () => {
      const admin = await register(app);
      await adminPatchUser(app, admin.userId, { role: 'admin' });
      const target = await register(app);
      const before = new Date(Date.now() - 1).toISOString();
      await expectStatus(
        await app.request(`/api/v1/admin/users/${target.userId}`, {
          method: 'PATCH',
          headers: bearer(admin.accessToken),
          json: { tier: 'pro' },
        }),
        200,
      );
      await adminPatchUser(app, target.userId, { tier: 'enterprise' });
      await expectStatus(
        await app.request(`/api/v1/admin/users/${target.userId}`, {
          method: 'PATCH',
          headers: bearer(admin.accessToken),
          json: { tier: 'free' },
        }),
        200,
      );
      const byTarget = await log(`?target=${target.userId}`);
      expect(byTarget.data.map((entry) => entry.after)).toEqual([{ tier: 'free' }, { tier: 'enterprise' }, { tier: 'pro' }]);
      expect(byTarget.nextCursor).toBeNull();
      const byAdmin = await log(`?target=${target.userId}&actor=${admin.userId}`);
      expect(byAdmin.data.map((entry) => entry.after)).toEqual([{ tier: 'free' }, { tier: 'pro' }]);
      const byKey = await log(`?target=${target.userId}&actor=admin-key`);
      expect(byKey.data.map((entry) => entry.after)).toEqual([{ tier: 'enterprise' }]);
      expect((await log(`?actor=${admin.userId}&action=cache.clear`)).data).toEqual([]);
      expect((await log(`?actor=${admin.userId}&action=user.update&targetType=user`)).data).toHaveLength(2);
      expect((await log(`?actor=${admin.userId}&targetType=chat`)).data).toEqual([]);
      expect((await log(`?target=${target.userId}&since=${encodeURIComponent(before)}`)).data).toHaveLength(3);
      expect((await log(`?target=${target.userId}&until=${encodeURIComponent(before)}`)).data).toEqual([]);
      const future = new Date(Date.now() + 60_000).toISOString();
      expect((await log(`?target=${target.userId}&since=${encodeURIComponent(future)}`)).data).toEqual([]);

      const all = (await log('?limit=100')).data.map((entry) => entry.id);
      expect(all).toEqual([...all].sort().reverse());
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { data: Entry[]; nextCursor: string | null } = await log(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.data.length).toBeLessThanOrEqual(2);
        walked.push(...page.data.map((entry) => entry.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(walked).toEqual(all);
    });

    test('error: a forged cursor, a bad time, until not after since and a limit out of range are 422', async () => {
      await expectError(await app.request('/api/v1/admin/audit-log?cursor=bm9wZQ', { headers: asAdmin }), 422, 'validation_error');
      await expectError(await app.request('/api/v1/admin/audit-log?since=yesterday', { headers: asAdmin }), 422, 'validation_error');
      const at = encodeURIComponent(new Date().toISOString());
      await expectError(
        await app.request(`/api/v1/admin/audit-log?since=${at}&until=${at}`, { headers: asAdmin }),
        422,
        'validation_error',
      );
      await expectError(await app.request('/api/v1/admin/audit-log?limit=0', { headers: asAdmin }), 422, 'validation_error');
    });

    test('security: the audit log is 401 without credentials and 403 for a user, a guest and a user’s API key', async () => {
      const user = await register(app);
      const key = await createApiKey(app, user.accessToken);
      const visitor = await guest(app);
      await expectError(await app.request('/api/v1/admin/audit-log'), 401, 'unauthorized');
      for (const credential of [user.accessToken, key.key, visitor.accessToken]) {
        await expectError(await app.request('/api/v1/admin/audit-log', { headers: bearer(credential) }), 403, 'forbidden');
      }
    });
  });
}

describe('every admin action is audited', () => {
  test('happy: each admin operation that is not a read names its audit action in the OpenAPI document', async () => {
    const app = await createTestApp(undefined, llmEnv(fake));
    try {
      const doc = await expectStatus(await app.request('/swagger/json'), 200);
      const unaudited: string[] = [];
      const audited: string[] = [];
      for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (operation['x-access'] !== 'admin' || method === 'get') continue;
          (operation['x-audit'] ? audited : unaudited).push(`${method} ${path}`);
        }
      }
      expect(unaudited).toEqual([]);
      // Routes added later join this list; none may be missing from it.
      expect(audited).toEqual(
        expect.arrayContaining([
          'patch /api/v1/admin/users/{id}',
          'patch /api/v1/chats/{id}/featured',
          'post /api/v1/admin/cache/clear',
          'post /api/v1/admin/sessions/cleanup',
          'post /api/v1/models/start',
          'post /api/v1/models/stop',
        ]),
      );
    } finally {
      await app.close();
    }
  });
});
