// Accounts: register, login, guests, /auth/me, disabling, passwords (change, forgot, reset) and
// email verification, through the real app on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import {
  adminPatchUser,
  bearer,
  createApiKey,
  expectError,
  guest,
  login,
  meStatus,
  readJson,
  register,
  testEnv,
  uniqueEmail,
} from '../helpers/client.ts';
import { mailedTokens, waitForMailedToken } from '../helpers/mail.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`accounts on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const post = (path: string, json: unknown, headers?: Record<string, string>) =>
      app.request(`/api/v1/auth${path}`, { method: 'POST', json, headers });

    test('happy: register answers 201 with the contract shape', async () => {
      const email = uniqueEmail('shape');
      const response = await post('/register', { email, password: 'correct horse', name: 'Ada' });
      expect(response.status).toBe(201);
      const body = await readJson(response);
      expect(Object.keys(body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'user']);
      expect(Object.keys(body.user).sort()).toEqual(['createdAt', 'email', 'emailVerified', 'id', 'name', 'role', 'tier']);
      expect(body.user).toMatchObject({ email, name: 'Ada', role: 'user', tier: 'free', emailVerified: false });
      expect(typeof body.user.id).toBe('string');
      expect(body.user.createdAt).toMatch(isoTime);
      expect(body.accessToken.split('.')).toHaveLength(3);
      expect(typeof body.refreshToken).toBe('string');
      expect(body.refreshToken).not.toBe(body.accessToken);
      expect(body.expiresIn).toBe(900);
      expect(await meStatus(app, body.accessToken)).toBe(200);
    });

    test('happy: emails are trimmed and lower-cased; login works with another casing', async () => {
      const local = uniqueEmail('Case');
      const account = await register(app, { email: `  ${local.toUpperCase()}  ` });
      expect(account.user.email).toBe(local.toLowerCase());
      const tokens = await login(app, ` ${local.toLowerCase().replace('case', 'CaSe')}`, account.password);
      expect(tokens.userId).toBe(account.userId);
    });

    test('error: a password under 8 characters is 422 naming body.password', async () => {
      const body = await expectError(await post('/register', { email: uniqueEmail(), password: 'seven77' }), 422, 'validation_error');
      expect(body.error.details.map((detail: { field: string }) => detail.field)).toContain('body.password');
    });

    test('error: a malformed email is 422 naming body.email', async () => {
      for (const email of ['not-an-email', 'a@b', 'two@@example.com', '']) {
        const body = await expectError(await post('/register', { email, password: 'long enough' }), 422, 'validation_error');
        expect(body.error.details.map((detail: { field: string }) => detail.field)).toContain('body.email');
      }
    });

    test('error: an email already used, in another casing, is 409', async () => {
      const account = await register(app);
      await expectError(await post('/register', { email: account.email.toUpperCase(), password: 'another password' }), 409, 'conflict');
    });

    test('security: wrong password and unknown email get the very same 401', async () => {
      const account = await register(app);
      const wrong = await post('/login', { email: account.email, password: 'not the password' });
      const unknown = await post('/login', { email: uniqueEmail('nobody'), password: 'not the password' });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      const [wrongBody, unknownBody] = [await readJson(wrong), await readJson(unknown)];
      expect(wrongBody.error.code).toBe('unauthorized');
      // Each names its own request; apart from that, nothing tells the two apart.
      expect(wrongBody.error.requestId).not.toBe(unknownBody.error.requestId);
      expect({ ...wrongBody.error, requestId: null }).toEqual({ ...unknownBody.error, requestId: null });
    });

    test('happy: a guest is 201 with role guest and no email', async () => {
      const response = await post('/guest', undefined);
      expect(response.status).toBe(201);
      const body = await readJson(response);
      expect(body.user).toMatchObject({ email: null, role: 'guest', emailVerified: false });
      expect(await meStatus(app, body.accessToken)).toBe(200);
    });

    test('happy: a guest registering with its bearer keeps its id; its guest token then ends', async () => {
      const visitor = await guest(app);
      const account = await register(app, { headers: bearer(visitor.accessToken) });
      expect(account.userId).toBe(visitor.userId);
      expect(account.user.role).toBe('user');
      expect(await meStatus(app, visitor.accessToken)).toBe(401);
      const refresh = await post('/refresh', { refreshToken: visitor.refreshToken });
      expect(refresh.status).toBe(401);
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }));
      expect(me).toMatchObject({ id: visitor.userId, email: account.email, role: 'user' });
    });

    test('security: a guest registering twice at once becomes one account, not two answers for one user', async () => {
      const visitor = await guest(app);
      const emails = [uniqueEmail('race-a'), uniqueEmail('race-b')];
      const responses = await Promise.all(
        emails.map((email) => post('/register', { email, password: 'long enough pw' }, bearer(visitor.accessToken))),
      );
      const bodies = await Promise.all(responses.map((response) => readJson(response)));
      const created = bodies.filter((_, i) => responses[i]!.status === 201);
      // Today both answer 201 for the same user id, each naming a different email; the row keeps
      // only the last, and the verification mail sent to the other address still verifies it.
      expect(created).toHaveLength(1);
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(created[0].accessToken) }));
      expect(me.email).toBe(created[0].user.email);
    });

    test('security: a verification mail sent to another address never verifies the account’s email', async () => {
      const visitor = await guest(app);
      const emails = [uniqueEmail('mine'), uniqueEmail('someone-else')];
      const responses = await Promise.all(
        emails.map((email) => post('/register', { email, password: 'long enough pw' }, bearer(visitor.accessToken))),
      );
      const winner = (await Promise.all(responses.map((response) => readJson(response)))).find((_, i) => responses[i]!.status === 201);
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(winner.accessToken) }));
      await Bun.sleep(100);
      for (const email of emails.filter((email) => email !== me.email)) {
        for (const token of mailedTokens(app, email, 'verify')) {
          const response = await post('/verify-email', { token });
          await response.arrayBuffer();
        }
      }
      const after = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(winner.accessToken) }));
      expect(after).toMatchObject({ email: me.email, emailVerified: false });
    });

    test('error: register with only a valid X-Admin-Key creates a plain account, never a 500', async () => {
      const email = uniqueEmail('adminkey');
      const response = await post('/register', { email, password: 'long enough pw' }, { 'x-admin-key': testEnv.ADMIN_API_KEY! });
      expect(response.status).toBe(201);
      expect((await readJson(response)).user).toMatchObject({ email, role: 'user' });
    });

    test('error: a NUL character in an email, name or password is refused without a 500', async () => {
      const probes: [string, unknown][] = [
        ['/login', { email: 'nul\u0000user@example.com', password: 'whatever1' }],
        ['/register', { email: 'nul\u0000user@example.com', password: 'long enough pw' }],
        ['/register', { email: uniqueEmail('nul'), password: 'long enough pw', name: 'Ada\u0000' }],
        ['/forgot-password', { email: 'nul\u0000user@example.com' }],
      ];
      const failures: string[] = [];
      for (const [path, body] of probes) {
        const response = await post(path, body);
        if (response.status >= 500) failures.push(`${path} ${JSON.stringify(body)} -> ${response.status}`);
        await response.arrayBuffer();
      }
      expect(failures).toEqual([]);
      const account = await register(app);
      // NUL is refused before any route runs (Postgres text cannot hold it): 422, naming the field.
      expect((await post('/login', { email: account.email, password: `${account.password}\u0000` })).status).toBe(422);
    });

    test('happy: /auth/me is the signed-in user; without a token it is 401', async () => {
      const account = await register(app, { name: 'Me' });
      const response = await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) });
      expect(response.status).toBe(200);
      expect(await readJson(response)).toEqual(account.user);
      await expectError(await app.request('/api/v1/auth/me'), 401, 'unauthorized');
    });

    test('security: a disabled user cannot log in, and its token and API key are refused at once', async () => {
      const account = await register(app);
      const key = await createApiKey(app, account.accessToken);
      await adminPatchUser(app, account.userId, { disabled: true });
      await expectError(await post('/login', { email: account.email, password: account.password }), 403, 'forbidden');
      await expectError(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }), 403, 'forbidden');
      await expectError(await app.request('/api/v1/users/me', { headers: bearer(key.key) }), 403, 'forbidden');
      expect((await post('/refresh', { refreshToken: account.refreshToken })).status).toBe(403);
      // Enabled again: the same credentials work.
      await adminPatchUser(app, account.userId, { disabled: false });
      expect(await meStatus(app, key.key)).toBe(200);
    });

    test('error: change-password with a wrong current password is 401 and changes nothing', async () => {
      const account = await register(app);
      const response = await post(
        '/change-password',
        { currentPassword: 'wrong password', newPassword: 'brand new pw' },
        bearer(account.accessToken),
      );
      await expectError(response, 401, 'unauthorized');
      expect(await meStatus(app, account.accessToken)).toBe(200);
      await login(app, account.email, account.password);
    });

    test('security: change-password ends the other sessions and keeps this one', async () => {
      const account = await register(app);
      const other = await login(app, account.email, account.password);
      const response = await post(
        '/change-password',
        { currentPassword: account.password, newPassword: 'the new password' },
        bearer(account.accessToken),
      );
      expect(response.status).toBe(204);
      expect(await meStatus(app, other.accessToken)).toBe(401);
      expect((await post('/refresh', { refreshToken: other.refreshToken })).status).toBe(401);
      expect(await meStatus(app, account.accessToken)).toBe(200);
      expect((await post('/login', { email: account.email, password: account.password })).status).toBe(401);
      expect((await login(app, account.email, 'the new password')).userId).toBe(account.userId);
    });

    test('error: a guest cannot change a password (403)', async () => {
      const visitor = await guest(app);
      const response = await post(
        '/change-password',
        { currentPassword: 'whatever1', newPassword: 'whatever2' },
        bearer(visitor.accessToken),
      );
      await expectError(response, 403, 'forbidden');
    });

    test('happy: forgot-password is 202 for known and unknown emails alike, mailing only the known one', async () => {
      const account = await register(app);
      const nobody = uniqueEmail('nobody');
      const known = await post('/forgot-password', { email: account.email });
      const unknown = await post('/forgot-password', { email: nobody });
      expect(known.status).toBe(202);
      expect(unknown.status).toBe(202);
      expect(await readJson(known)).toEqual(await readJson(unknown));
      await waitForMailedToken(app, account.email, 'reset');
      await Bun.sleep(50);
      expect(app.logs.some((line) => line.to === nobody)).toBe(false);
    });

    test('security: reset-password with the mailed token sets the password once and ends every session', async () => {
      const account = await register(app);
      const other = await login(app, account.email, account.password);
      expect((await post('/forgot-password', { email: account.email.toUpperCase() })).status).toBe(202);
      const token = await waitForMailedToken(app, account.email, 'reset');
      expect((await post('/reset-password', { token, newPassword: 'reset password 1' })).status).toBe(204);
      for (const old of [account, other]) {
        expect(await meStatus(app, old.accessToken)).toBe(401);
        expect((await post('/refresh', { refreshToken: old.refreshToken })).status).toBe(401);
      }
      expect((await post('/login', { email: account.email, password: account.password })).status).toBe(401);
      const fresh = await login(app, account.email, 'reset password 1');
      expect(fresh.userId).toBe(account.userId);
      const again = await expectError(await post('/reset-password', { token, newPassword: 'reset password 2' }), 422, 'validation_error');
      expect(again.error.details[0].field).toBe('body.token');
      await login(app, account.email, 'reset password 1');
    });

    test('error: reset-password with an invalid token is 422', async () => {
      const response = await post('/reset-password', { token: 'definitely-not-a-token-0123456789abcdef', newPassword: 'long enough' });
      await expectError(response, 422, 'validation_error');
    });

    test('security: a verification token cannot reset a password', async () => {
      const account = await register(app);
      const token = await waitForMailedToken(app, account.email, 'verify');
      await expectError(await post('/reset-password', { token, newPassword: 'hijacked password' }), 422, 'validation_error');
      await login(app, account.email, account.password);
    });

    test('happy: verify-email with the mailed token verifies once; resend then is 409', async () => {
      const account = await register(app);
      const token = await waitForMailedToken(app, account.email, 'verify');
      const response = await post('/verify-email', { token });
      expect(response.status).toBe(200);
      expect((await readJson(response)).user).toMatchObject({ id: account.userId, emailVerified: true });
      const me = await readJson(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }));
      expect(me.emailVerified).toBe(true);
      await expectError(await post('/verify-email', { token }), 422, 'validation_error');
      await expectError(await post('/verify-email/resend', undefined, bearer(account.accessToken)), 409, 'conflict');
    });

    test('happy: resend mails a new verification token that works', async () => {
      const account = await register(app);
      await waitForMailedToken(app, account.email, 'verify');
      expect((await post('/verify-email/resend', undefined, bearer(account.accessToken))).status).toBe(202);
      const second = await waitForMailedToken(app, account.email, 'verify', 2);
      expect((await post('/verify-email', { token: second })).status).toBe(200);
    });
  });
}

// The routes of the contract's Auth, Users and Admin sections, as OpenAPI writes them.
const publicRoutes = [
  'post /api/v1/auth/register',
  'post /api/v1/auth/login',
  'post /api/v1/auth/guest',
  'post /api/v1/auth/refresh',
  'post /api/v1/auth/forgot-password',
  'post /api/v1/auth/reset-password',
  'post /api/v1/auth/verify-email',
];
const protectedRoutes = [
  'post /api/v1/auth/logout',
  'post /api/v1/auth/logout-all',
  'get /api/v1/auth/me',
  'post /api/v1/auth/change-password',
  'get /api/v1/auth/sessions',
  'delete /api/v1/auth/sessions/{id}',
  'post /api/v1/auth/api-keys',
  'get /api/v1/auth/api-keys',
  'delete /api/v1/auth/api-keys/{id}',
  'get /api/v1/users/me',
  'patch /api/v1/users/me',
  'patch /api/v1/users/me/preferences',
  'get /api/v1/users/me/usage',
  'get /api/v1/admin/users',
  'patch /api/v1/admin/users/{id}',
];
const adminMaintenanceRoutes = ['get /api/v1/admin/cache/stats', 'post /api/v1/admin/cache/clear', 'post /api/v1/admin/sessions/cleanup'];

describe('auth, users and admin in the OpenAPI document', () => {
  let app: TestApp;
  // biome-ignore lint: the document is inspected field by field
  let paths: Record<string, Record<string, any>>;
  beforeAll(async () => {
    app = await createTestApp(undefined, testEnv);
    paths = (await readJson(await app.request('/swagger/json'))).paths;
  });
  afterAll(() => app.close());

  const operation = (route: string) => {
    const [method, path] = route.split(' ') as [string, string];
    return paths[path]?.[method];
  };
  const requiresCredentials = (security: unknown) =>
    Array.isArray(security) && security.length > 0 && security.every((requirement) => Object.keys(requirement).length > 0);

  test('happy: every auth and users route is described; protected ones require credentials', () => {
    expect(publicRoutes.filter((route) => !operation(route))).toEqual([]);
    expect(protectedRoutes.filter((route) => !operation(route))).toEqual([]);
    expect(protectedRoutes.filter((route) => !requiresCredentials(operation(route).security))).toEqual([]);
    expect(operation('get /api/v1/admin/users').security).toContainEqual({ adminKey: [] });
    for (const route of publicRoutes.filter((route) => route !== 'post /api/v1/auth/register')) {
      expect(requiresCredentials(operation(route).security)).toBe(false);
    }
  });

  test('happy: the admin maintenance routes of the contract are described and admin-only', () => {
    expect(adminMaintenanceRoutes.filter((route) => !operation(route))).toEqual([]);
    for (const route of adminMaintenanceRoutes) expect(operation(route).security).toContainEqual({ adminKey: [] });
  });
});
