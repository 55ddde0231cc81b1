// Secrets stay secret: after a full account flow, no log line, no response that is not meant to
// carry one, no database row and no KV entry holds a password, token or API key in plaintext.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import Redis from 'ioredis';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, login, register, testEnv, uniqueEmail } from '../helpers/client.ts';
import { mailLogMessage, waitForMailedToken } from '../helpers/mail.ts';
import { hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';

type Exchange = { route: string; status: number; text: string; carriesSecrets: boolean };

const failureMarker = 'db-failure-marker';

/** Makes inserting a user named `failureMarker` fail inside the database, on either dialect. */
async function injectUserInsertFailure(app: TestApp) {
  const statements =
    app.infra.db.kind === 'sqlite'
      ? [
          `CREATE TRIGGER fail_marked_users BEFORE INSERT ON users WHEN NEW.name = '${failureMarker}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
        ]
      : [
          `CREATE FUNCTION fail_marked_users() RETURNS trigger AS $$ BEGIN IF NEW.name = '${failureMarker}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
          'CREATE TRIGGER fail_marked_users BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION fail_marked_users()',
        ];
  for (const statement of statements) {
    await app.infra.db.raw(sql.raw(statement));
  }
}

const internalFieldNames = ['passwordHash', 'password_hash', 'keyHash', 'key_hash', 'tokenHash', 'token_hash', '$argon2'];

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`secrets on ${name}`, () => {
    let app: TestApp;
    const exchanges: Exchange[] = [];
    const secrets = {
      passwords: [] as string[],
      accessTokens: [] as string[],
      refreshTokens: [] as string[],
      apiKeys: [] as string[],
      mailed: [] as string[],
    };
    const allSecrets = () => [
      ...secrets.passwords,
      ...secrets.accessTokens,
      ...secrets.refreshTokens,
      ...secrets.apiKeys,
      ...secrets.mailed,
    ];
    let userId = '';
    let email = '';

    /** A request whose response text is kept; `carriesSecrets` marks the responses whose job is to hand out tokens or keys. */
    const call = async (route: string, init: RequestInit & { json?: unknown } = {}, carriesSecrets = false) => {
      const response = await app.request(route, init);
      const text = await response.text();
      exchanges.push({ route: `${init.method ?? 'GET'} ${route}`, status: response.status, text, carriesSecrets });
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };
    const issued = (body: { accessToken: string; refreshToken: string }) => {
      secrets.accessTokens.push(body.accessToken);
      secrets.refreshTokens.push(body.refreshToken);
      return body;
    };

    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
      email = uniqueEmail('secrets');
      const [first, second, third, wrong, short] = [
        'first-password-1',
        'second-password-2',
        'third-password-3',
        'wrong-password-4',
        'short12',
      ];
      secrets.passwords.push(first, second, third, wrong, short);

      expect((await call('/api/v1/auth/register', { method: 'POST', json: { email: uniqueEmail(), password: short } })).status).toBe(422);
      const registered = await call('/api/v1/auth/register', { method: 'POST', json: { email, password: first } }, true);
      expect(registered.status).toBe(201);
      const session1 = issued(registered.body);
      userId = registered.body.user.id;
      expect((await call('/api/v1/auth/login', { method: 'POST', json: { email, password: wrong } })).status).toBe(401);
      const session2 = issued((await call('/api/v1/auth/login', { method: 'POST', json: { email, password: first } }, true)).body);
      const rotated = issued(
        (await call('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken: session2.refreshToken } }, true)).body,
      );
      expect(
        (await call('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken: 'rt_guessed-refresh-token-value-000000' } })).status,
      ).toBe(401);

      const key = await call('/api/v1/auth/api-keys', { method: 'POST', headers: bearer(rotated.accessToken), json: { name: 'ci' } }, true);
      expect(key.status).toBe(201);
      secrets.apiKeys.push(key.body.key);
      expect((await call('/api/v1/auth/me', { headers: bearer(key.body.key) })).status).toBe(200);
      expect((await call('/api/v1/users/me', { headers: bearer(key.body.key) })).status).toBe(200);
      expect((await call('/api/v1/auth/me', { headers: bearer(rotated.accessToken) })).status).toBe(200);
      expect((await call('/api/v1/auth/sessions', { headers: bearer(rotated.accessToken) })).status).toBe(200);
      expect((await call('/api/v1/auth/api-keys', { headers: bearer(rotated.accessToken) })).status).toBe(200);

      const verifyToken = await waitForMailedToken(app, email, 'verify');
      secrets.mailed.push(verifyToken);
      expect((await call('/api/v1/auth/verify-email', { method: 'POST', json: { token: verifyToken } })).status).toBe(200);
      const changed = await call('/api/v1/auth/change-password', {
        method: 'POST',
        headers: bearer(rotated.accessToken),
        json: { currentPassword: first, newPassword: second },
      });
      expect(changed.status).toBe(204);
      expect((await call('/api/v1/auth/logout', { method: 'POST', headers: bearer(rotated.accessToken) })).status).toBe(204);
      expect((await call('/api/v1/auth/me', { headers: bearer(rotated.accessToken) })).status).toBe(401);
      expect((await call('/api/v1/auth/me', { headers: bearer(session1.accessToken) })).status).toBe(401);

      expect((await call('/api/v1/auth/forgot-password', { method: 'POST', json: { email } })).status).toBe(202);
      const resetToken = await waitForMailedToken(app, email, 'reset');
      secrets.mailed.push(resetToken);
      expect((await call('/api/v1/auth/reset-password', { method: 'POST', json: { token: resetToken, newPassword: third } })).status).toBe(
        204,
      );
      const final = issued((await call('/api/v1/auth/login', { method: 'POST', json: { email, password: third } }, true)).body);
      issued((await call('/api/v1/auth/guest', { method: 'POST' }, true)).body);
      expect((await call('/api/v1/admin/users', { headers: asAdmin })).status).toBe(200);
      expect((await call(`/api/v1/admin/users?q=${encodeURIComponent(email)}`, { headers: asAdmin })).status).toBe(200);
      expect((await call(`/api/v1/admin/users/${userId}`, { method: 'PATCH', headers: asAdmin, json: { tier: 'pro' } })).status).toBe(200);
      expect((await call('/api/v1/auth/me', { headers: bearer(final.accessToken) })).status).toBe(200);
      // Mail is written after the response and last-seen updates after the request: let them land.
      await Bun.sleep(100);
    });
    afterAll(() => app.close());

    const found = (haystack: string, needles: string[]) => needles.filter((needle) => haystack.includes(needle));

    test('security: no log line holds a password, token or API key (mail lines hold only their own token)', () => {
      const mailLines = app.logs.filter((line) => line.msg === mailLogMessage);
      const otherLines = app.logs.filter((line) => line.msg !== mailLogMessage);
      expect(mailLines.length).toBe(2);
      expect(otherLines.some((line) => line.msg === 'request' && line.userId === userId)).toBe(true);
      expect(found(JSON.stringify(otherLines), allSecrets())).toEqual([]);
      const notMailed = [...secrets.passwords, ...secrets.accessTokens, ...secrets.refreshTokens, ...secrets.apiKeys];
      expect(found(JSON.stringify(mailLines), notMailed)).toEqual([]);
      // The search does find a secret where one is meant to be.
      expect(found(JSON.stringify(mailLines), secrets.mailed)).toEqual(secrets.mailed);
      expect(found(JSON.stringify(app.logs), internalFieldNames)).toEqual([]);
    });

    test('security: only the responses that hand out credentials contain any', () => {
      expect(exchanges.length).toBeGreaterThan(20);
      const leaks = exchanges
        .filter((exchange) => !exchange.carriesSecrets)
        .map((exchange) => ({ route: exchange.route, secrets: found(exchange.text, allSecrets()) }))
        .filter((leak) => leak.secrets.length > 0);
      expect(leaks).toEqual([]);
      // Those that do carry tokens never echo a password or a mailed token.
      for (const exchange of exchanges.filter((exchange) => exchange.carriesSecrets)) {
        expect(found(exchange.text, [...secrets.passwords, ...secrets.mailed])).toEqual([]);
      }
    });

    test('security: no response holds a hash or an internal secret field', () => {
      const leaks = exchanges
        .map((exchange) => ({ route: exchange.route, fields: found(exchange.text, internalFieldNames) }))
        .filter((leak) => leak.fields.length);
      expect(leaks).toEqual([]);
      const adminList = exchanges.find((exchange) => exchange.route === 'GET /api/v1/admin/users');
      expect(Object.keys(JSON.parse(adminList!.text).data[0]).sort()).toEqual(
        ['createdAt', 'disabled', 'email', 'emailVerified', 'id', 'name', 'role', 'tier', 'updatedAt'].sort(),
      );
    });

    test('security: the database stores argon2id password hashes and hashed tokens, never plaintext', async () => {
      const { db } = app.infra;
      const { users, apiKeys, refreshTokens, oneTimeTokens, sessions } = db.tables;
      const rows = {
        users: await db.run((q) => q.select().from(users)),
        apiKeys: await db.run((q) => q.select().from(apiKeys)),
        refreshTokens: await db.run((q) => q.select().from(refreshTokens)),
        oneTimeTokens: await db.run((q) => q.select().from(oneTimeTokens)),
        sessions: await db.run((q) => q.select().from(sessions)),
      };
      const user = rows.users.find((row) => row.id === userId)!;
      // New hashes carry the configured cost (the tests' cheap one: tests/helpers/services.ts).
      expect(user.passwordHash).toStartWith('$argon2id$v=19$m=64,t=1,');
      for (const row of rows.users) if (row.role !== 'guest') expect(row.passwordHash).toStartWith('$argon2id$');
      const [key] = rows.apiKeys;
      expect(rows.apiKeys).toHaveLength(1);
      expect(key!.keyHash).not.toBe(secrets.apiKeys[0]!);
      expect(key!.keyHash).toMatch(/^[0-9a-f]{64}$/);
      expect(secrets.apiKeys[0]!.startsWith(key!.keyPrefix)).toBe(true);
      expect(rows.refreshTokens.length).toBe(secrets.refreshTokens.length);
      for (const row of rows.refreshTokens) expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      expect(rows.oneTimeTokens.length).toBe(2);
      for (const row of rows.oneTimeTokens) expect(row.usedAt).not.toBeNull();
      expect(found(JSON.stringify(rows), allSecrets())).toEqual([]);
    });

    test('happy: a password hashed at another cost (an earlier PASSWORD_HASH_* setting) still signs in', async () => {
      const account = await register(app);
      const { db } = app.infra;
      const older = await Bun.password.hash(account.password, { algorithm: 'argon2id', memoryCost: 256, timeCost: 3 });
      await db.run((q) => q.update(db.tables.users).set({ passwordHash: older }).where(eq(db.tables.users.id, account.userId)));
      expect((await login(app, account.email, account.password)).userId).toBe(account.userId);
      await expect(login(app, account.email, `${account.password}x`)).rejects.toThrow('login: expected 200, got 401');
    });

    test('security: a database failure is logged without the query parameters (no password hash, no email)', async () => {
      await injectUserInsertFailure(app);
      const before = app.logs.length;
      const failedEmail = uniqueEmail('dbfail');
      const password = 'password-of-a-failed-signup';
      const response = await call('/api/v1/auth/register', { method: 'POST', json: { email: failedEmail, password, name: failureMarker } });
      expect(response.status).toBe(500);
      expect(response.body).toEqual({ error: { code: 'internal_error', message: 'Internal server error', requestId: expect.any(String) } });
      const lines = app.logs.slice(before);
      const logged = JSON.stringify(lines);
      // The failure is logged, with its request id...
      expect(lines.some((line) => line.level === 'error' && typeof line.requestId === 'string')).toBe(true);
      // ...but not the row that was being written.
      expect(found(logged, ['$argon2', password, failedEmail])).toEqual([]);
    });

    test('security: the KV store holds no credential, nor a logged-out token id (the database refuses those)', async () => {
      expect(await app.infra.kv.countMatching('auth:*jti*')).toBe(0);
      if (kind.kv !== 'redis') return;
      const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      try {
        const dump: string[] = [];
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${app.infra.config.redisKeyPrefix}*`, 'COUNT', 500);
          cursor = next;
          for (const key of keys) {
            dump.push(key);
            if ((await client.type(key)) === 'string') dump.push((await client.get(key)) ?? '');
          }
        } while (cursor !== '0');
        expect(dump.length).toBeGreaterThan(0);
        expect(found(dump.join('\n'), allSecrets())).toEqual([]);
      } finally {
        client.disconnect();
      }
    });
  });
}
