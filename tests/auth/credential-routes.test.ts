// What an API key may not do, and what token-bearing answers tell caches (issue "Reliability",
// kinds 6 and 7; break-it F13 and the "API key scopes" risk), on every storage kind:
// - routes that manage credentials (API keys, sessions, the password, the verification mail)
//   refuse an API key with 403 and change nothing, while a session's access token may call them;
//   the OpenAPI document says so by their security scheme (`session`, not `bearer`);
// - every answer that carries tokens or a key says `Cache-Control: no-store` (and `Pragma: no-cache`).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  bearer,
  createApiKey,
  expectError,
  expectStatus,
  login,
  meStatus,
  readJson,
  register,
  testEnv,
} from '../helpers/client.ts';

type Operation = { security?: Record<string, unknown>[]; 'x-access'?: string };

/** A call, as the test app takes it. */
type Call = { path: string; method: string; json?: unknown };

/** A credential route, and how to call it for an account (making what it acts on: a key to revoke, a session to end). */
type CredentialRoute = {
  name: string;
  prepare: (app: TestApp, account: Account) => Promise<Call>;
  /** Path and method as the OpenAPI document names them. */
  operation: [path: string, method: string];
};

const credentialRoutes: CredentialRoute[] = [
  {
    name: 'POST /auth/api-keys',
    prepare: async () => ({ path: '/api/v1/auth/api-keys', method: 'POST', json: { name: 'minted' } }),
    operation: ['/api/v1/auth/api-keys', 'post'],
  },
  {
    name: 'DELETE /auth/api-keys/:id',
    prepare: async (app, account) => {
      const victim = await createApiKey(app, account.accessToken, { name: 'victim' });
      return { path: `/api/v1/auth/api-keys/${victim.id}`, method: 'DELETE' };
    },
    operation: ['/api/v1/auth/api-keys/{id}', 'delete'],
  },
  {
    // A leaked key must not lift its own (or a sibling's) limits or expiry.
    name: 'PATCH /auth/api-keys/:id',
    prepare: async (app, account) => {
      const limited = await createApiKey(app, account.accessToken, { name: 'limited', requestsPerMinute: 1 });
      return { path: `/api/v1/auth/api-keys/${limited.id}`, method: 'PATCH', json: { requestsPerMinute: null } };
    },
    operation: ['/api/v1/auth/api-keys/{id}', 'patch'],
  },
  {
    name: 'POST /auth/logout',
    prepare: async () => ({ path: '/api/v1/auth/logout', method: 'POST' }),
    operation: ['/api/v1/auth/logout', 'post'],
  },
  {
    name: 'POST /auth/logout-all',
    prepare: async () => ({ path: '/api/v1/auth/logout-all', method: 'POST' }),
    operation: ['/api/v1/auth/logout-all', 'post'],
  },
  {
    name: 'DELETE /auth/sessions/:id',
    prepare: async (app, account) => {
      const sessions = await expectStatus(await app.request('/api/v1/auth/sessions', { headers: bearer(account.accessToken) }), 200);
      return { path: `/api/v1/auth/sessions/${sessions.data[0].id}`, method: 'DELETE' };
    },
    operation: ['/api/v1/auth/sessions/{id}', 'delete'],
  },
  {
    name: 'POST /auth/change-password',
    prepare: async (_app, account) => ({
      path: '/api/v1/auth/change-password',
      method: 'POST',
      json: { currentPassword: account.password, newPassword: `${account.password}-changed` },
    }),
    operation: ['/api/v1/auth/change-password', 'post'],
  },
  {
    name: 'POST /auth/verify-email/resend',
    prepare: async () => ({ path: '/api/v1/auth/verify-email/resend', method: 'POST' }),
    operation: ['/api/v1/auth/verify-email/resend', 'post'],
  },
];

for (const [name, kind] of kinds) {
  describe(`credential routes and token answers on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const keyIds = async (account: Account) =>
      (await expectStatus(await app.request('/api/v1/auth/api-keys', { headers: bearer(account.accessToken) }), 200)).data
        .map((k: { id: string }) => k.id)
        .sort();

    describe('an API key', () => {
      test.each(credentialRoutes.map((route) => [route.name, route] as const))(
        'security: %s refuses an API key with 403 forbidden, and changes nothing',
        async (_name, route) => {
          const account = await register(app);
          const key = await createApiKey(app, account.accessToken);
          const otherSession = await login(app, account.email, account.password);
          const call = await route.prepare(app, account);
          const keysBefore = await keyIds(account);
          const response = await app.request(call.path, { method: call.method, headers: bearer(key.key), json: call.json });
          const body = await expectError(response, 403, 'forbidden');
          expect(body.error.message).toContain('API key');
          // Nothing changed: no key made or revoked, every session and the key still work, the password too.
          expect(await keyIds(account)).toEqual(keysBefore);
          expect(await meStatus(app, account.accessToken)).toBe(200);
          expect(await meStatus(app, otherSession.accessToken)).toBe(200);
          expect(await meStatus(app, key.key)).toBe(200);
          await login(app, account.email, account.password);
        },
      );

      test('security: a key cannot mint a key that would outlive it: after the leaked key is revoked, nothing it made works', async () => {
        const account = await register(app);
        const leaked = await createApiKey(app, account.accessToken, { name: 'leaked' });
        await expectError(
          await app.request('/api/v1/auth/api-keys', { method: 'POST', headers: bearer(leaked.key), json: { name: 'backdoor' } }),
          403,
          'forbidden',
        );
        expect(await keyIds(account)).toEqual([leaked.id]);
        await expectStatus(
          await app.request(`/api/v1/auth/api-keys/${leaked.id}`, { method: 'DELETE', headers: bearer(account.accessToken) }),
          204,
        );
        expect(await meStatus(app, leaked.key)).toBe(401);
        expect(await keyIds(account)).toEqual([]);
      });

      test('happy: a key still reads the key list and the sessions, and works wherever no credential is managed', async () => {
        const account = await register(app);
        const key = await createApiKey(app, account.accessToken);
        expect((await app.request('/api/v1/auth/api-keys', { headers: bearer(key.key) })).status).toBe(200);
        expect((await app.request('/api/v1/auth/sessions', { headers: bearer(key.key) })).status).toBe(200);
        expect((await app.request('/api/v1/chats', { method: 'POST', headers: bearer(key.key), json: {} })).status).toBe(201);
        expect(await meStatus(app, key.key)).toBe(200);
      });
    });

    describe('a session', () => {
      test.each(credentialRoutes.map((route) => [route.name, route] as const))(
        'happy: %s accepts a session’s access token',
        async (_name, route) => {
          const account = await register(app);
          const call = await route.prepare(app, account);
          const response = await app.request(call.path, { method: call.method, headers: bearer(account.accessToken), json: call.json });
          expect(`${response.status} ${await response.text()}`).toMatch(/^2\d\d /);
          expect(response.status).toBeLessThan(300);
        },
      );

      test('happy: a session both mints and revokes a key, and ending a session still works with the session', async () => {
        const account = await register(app);
        const other = await login(app, account.email, account.password);
        const key = await createApiKey(app, account.accessToken);
        expect(await keyIds(account)).toEqual([key.id]);
        await expectStatus(
          await app.request(`/api/v1/auth/api-keys/${key.id}`, { method: 'DELETE', headers: bearer(account.accessToken) }),
          204,
        );
        expect(await meStatus(app, key.key)).toBe(401);
        await expectStatus(await app.request('/api/v1/auth/logout-all', { method: 'POST', headers: bearer(other.accessToken) }), 204);
        expect(await meStatus(app, account.accessToken)).toBe(401);
      });
    });

    test('security: the OpenAPI document gives the credential routes the session scheme, and only them among auth routes', async () => {
      const doc = (await readJson(await app.request('/swagger/json'))) as {
        paths: Record<string, Record<string, Operation>>;
        components: { securitySchemes: Record<string, { type: string; scheme?: string; description?: string }> };
      };
      expect(doc.components.securitySchemes.session).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(doc.components.securitySchemes.session?.description).toContain('API key');
      const sessionOnly = Object.entries(doc.paths)
        .flatMap(([path, operations]) => Object.entries(operations).map(([method, operation]) => ({ path, method, operation })))
        .filter(({ operation }) => JSON.stringify(operation.security ?? []).includes('"session"'))
        .map(({ path, method }) => `${method} ${path}`)
        .sort();
      expect(sessionOnly).toEqual(credentialRoutes.map((route) => `${route.operation[1]} ${route.operation[0]}`).sort());
      for (const route of credentialRoutes) {
        const operation = doc.paths[route.operation[0]]![route.operation[1]]!;
        // Still a protected user or member route for every other reader of the document.
        expect(['user', 'member']).toContain(operation['x-access'] ?? 'none');
        expect(operation.security).toEqual([{ session: [] }]);
      }
    });

    describe('answers that carry tokens or keys', () => {
      const expectNoStore = (response: Response) => {
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(response.headers.get('pragma')).toBe('no-cache');
      };

      test('security: register, login, guest, refresh and API key creation answer Cache-Control: no-store', async () => {
        const email = `nostore-${crypto.randomUUID()}@example.com`;
        const password = 'correct horse battery 9';
        const registered = await app.request('/api/v1/auth/register', { method: 'POST', json: { email, password } });
        expect(registered.status).toBe(201);
        expectNoStore(registered);
        const tokens = await readJson(registered);

        const loggedIn = await app.request('/api/v1/auth/login', { method: 'POST', json: { email, password } });
        expect(loggedIn.status).toBe(200);
        expectNoStore(loggedIn);

        const visitor = await app.request('/api/v1/auth/guest', { method: 'POST' });
        expect(visitor.status).toBe(201);
        expectNoStore(visitor);

        const refreshed = await app.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken: tokens.refreshToken } });
        expect(refreshed.status).toBe(200);
        expectNoStore(refreshed);

        const key = await app.request('/api/v1/auth/api-keys', {
          method: 'POST',
          headers: bearer(tokens.accessToken),
          json: { name: 'cached?' },
        });
        expect(key.status).toBe(201);
        expectNoStore(key);
      });

      test('security: a refused login or refresh says no-store too (the same route, whatever its answer)', async () => {
        const refused = await app.request('/api/v1/auth/login', {
          method: 'POST',
          json: { email: `nobody-${crypto.randomUUID()}@example.com`, password: 'wrong password 123' },
        });
        expect(refused.status).toBe(401);
        expectNoStore(refused);
        const reused = await app.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken: 'not-a-refresh-token' } });
        expect(reused.status).toBe(401);
        expectNoStore(reused);
      });
    });
  });
}
