// Tokens and sessions: refresh rotation and reuse detection, logout, forged and broken access
// tokens, and the signed-in devices list, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { decodeJwt, SignJWT } from 'jose';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, expectError, login, meStatus, readJson, register, type Tokens, testEnv } from '../helpers/client.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

const clientA = { 'user-agent': 'ParleyTest/1.0 (device A)', 'x-forwarded-for': '203.0.113.7' };
const clientB = { 'user-agent': 'ParleyTest/1.0 (device B)', 'x-forwarded-for': '198.51.100.23' };

const sessionIdOf = (accessToken: string) => String(decodeJwt(accessToken).sid);

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`tokens on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, TRUST_PROXY: 'true' });
    });
    afterAll(() => app.close());

    const refresh = (refreshToken: string) => app.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken } });
    const sign = (claims: Record<string, unknown>, secret = app.infra.config.jwtSecret) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ role: 'user', jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer('parley')
        .setIssuedAt(now - 10)
        .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : now + 600)
        .sign(new TextEncoder().encode(secret));
    };

    test('happy: refresh answers new tokens of the same user, and the new access token works', async () => {
      const account = await register(app);
      const response = await refresh(account.refreshToken);
      expect(response.status).toBe(200);
      const body = await readJson(response);
      expect(body.user.id).toBe(account.userId);
      expect(body.expiresIn).toBe(900);
      expect(body.refreshToken).not.toBe(account.refreshToken);
      expect(sessionIdOf(body.accessToken)).toBe(sessionIdOf(account.accessToken));
      expect(await meStatus(app, body.accessToken)).toBe(200);
    });

    test('security: a refresh token used twice is refused and ends the whole session', async () => {
      const account = await register(app);
      const first = await readJson(await refresh(account.refreshToken));
      const second = await readJson(await refresh(first.refreshToken));
      expect(second.refreshToken).not.toBe(first.refreshToken);
      await expectError(await refresh(account.refreshToken), 401, 'unauthorized');
      // Everything of that session is dead now: the newest refresh token and every access token.
      await expectError(await refresh(second.refreshToken), 401, 'unauthorized');
      for (const token of [account.accessToken, first.accessToken, second.accessToken]) expect(await meStatus(app, token)).toBe(401);
      // Other sessions of the user are untouched.
      const other = await login(app, account.email, account.password);
      expect(await meStatus(app, other.accessToken)).toBe(200);
    });

    test('error: an unknown refresh token is 401', async () => {
      await expectError(await refresh('rt_this-token-was-never-issued-by-the-server'), 401, 'unauthorized');
      await expectError(await app.request('/api/v1/auth/refresh', { method: 'POST', json: {} }), 422, 'validation_error');
    });

    test('security: logout is 204, then the same access token is 401 at once and its refresh token is refused', async () => {
      const account = await register(app);
      const other = await login(app, account.email, account.password);
      const response = await app.request('/api/v1/auth/logout', { method: 'POST', headers: bearer(account.accessToken) });
      expect(response.status).toBe(204);
      await expectError(await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) }), 401, 'unauthorized');
      await expectError(await refresh(account.refreshToken), 401, 'unauthorized');
      expect(await meStatus(app, other.accessToken)).toBe(200);
    });

    test('error: an API key cannot log out (403), and stays valid', async () => {
      const account = await register(app);
      const key = await createApiKey(app, account.accessToken);
      await expectError(await app.request('/api/v1/auth/logout', { method: 'POST', headers: bearer(key.key) }), 403, 'forbidden');
      expect(await meStatus(app, key.key)).toBe(200);
    });

    test('security: logout-all ends every session of the user, and only of that user', async () => {
      const account = await register(app);
      const sessions = [account, await login(app, account.email, account.password), await login(app, account.email, account.password)];
      const stranger = await register(app);
      const response = await app.request('/api/v1/auth/logout-all', { method: 'POST', headers: bearer(sessions[1]!.accessToken) });
      expect(response.status).toBe(204);
      for (const session of sessions) {
        expect(await meStatus(app, session.accessToken)).toBe(401);
        expect((await refresh(session.refreshToken)).status).toBe(401);
      }
      expect(await meStatus(app, stranger.accessToken)).toBe(200);
      await login(app, account.email, account.password);
    });

    describe('security: broken or forged access tokens are 401 in the contract shape', () => {
      let account: Tokens;
      beforeAll(async () => {
        account = await register(app);
      });
      const expectRefused = async (token: string) =>
        expectError(await app.request('/api/v1/auth/me', { headers: bearer(token) }), 401, 'unauthorized');

      test('happy: a token signed here with the app secret works (so the refusals below are for the stated reason)', async () => {
        const token = await sign({ sub: account.userId, sid: sessionIdOf(account.accessToken) });
        expect(await meStatus(app, token)).toBe(200);
      });

      test('security: a payload character flipped', async () => {
        const [header, payload, signature] = account.accessToken.split('.') as [string, string, string];
        const at = Math.floor(payload.length / 2);
        const flipped = payload.slice(0, at) + (payload[at] === 'A' ? 'B' : 'A') + payload.slice(at + 1);
        await expectRefused(`${header}.${flipped}.${signature}`);
        // A whole payload swapped for another user's, signature kept.
        const other = await register(app);
        await expectRefused(`${header}.${other.accessToken.split('.')[1]}.${signature}`);
      });

      test('security: an expired token with a valid signature', async () => {
        const token = await sign({ sub: account.userId, sid: sessionIdOf(account.accessToken), exp: Math.floor(Date.now() / 1000) - 60 });
        await expectRefused(token);
      });

      test('security: alg: none', async () => {
        const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
        const payload = { ...decodeJwt(account.accessToken) };
        await expectRefused(`${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`);
        await expectRefused(`${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}`);
      });

      test('security: signed with a wrong secret', async () => {
        await expectRefused(
          await sign({ sub: account.userId, sid: sessionIdOf(account.accessToken) }, 'not-the-secret-of-this-app-0123456789'),
        );
      });

      test('security: a valid signature but a session that does not exist, or is another user’s', async () => {
        await expectRefused(await sign({ sub: account.userId, sid: crypto.randomUUID() }));
        const other = await register(app);
        await expectRefused(await sign({ sub: account.userId, sid: sessionIdOf(other.accessToken) }));
      });

      test('security: a valid signature but a role the app does not know, or no session id', async () => {
        await expectRefused(await sign({ sub: account.userId, sid: sessionIdOf(account.accessToken), role: 'superuser' }));
        await expectRefused(await sign({ sub: account.userId }));
      });

      test('security: malformed Authorization headers', async () => {
        const token = account.accessToken;
        for (const authorization of [
          'Bearer',
          'Bearer ',
          `Basic ${token}`,
          `Token ${token}`,
          `Bearer ${token} extra`,
          `Bearer${token}`,
          'Bearer not.a.jwt',
          'Bearer pk_',
        ]) {
          await expectError(await app.request('/api/v1/auth/me', { headers: { authorization } }), 401, 'unauthorized');
        }
        expect(await meStatus(app, token)).toBe(200);
      });
    });

    test('happy: sessions list shows user agent, ip, times, and exactly one current session', async () => {
      const account = await register(app, { headers: clientA });
      const second = await login(app, account.email, account.password, clientB);
      const response = await app.request('/api/v1/auth/sessions', { headers: { ...bearer(second.accessToken), ...clientB } });
      expect(response.status).toBe(200);
      const body = await readJson(response);
      expect(body.nextCursor).toBeNull();
      expect(body.data).toHaveLength(2);
      const byAgent = (agent: string) => body.data.find((session: { userAgent: string }) => session.userAgent === agent);
      expect(byAgent(clientA['user-agent'])).toMatchObject({ ip: '203.0.113.7', current: false, id: sessionIdOf(account.accessToken) });
      expect(byAgent(clientB['user-agent'])).toMatchObject({ ip: '198.51.100.23', current: true, id: sessionIdOf(second.accessToken) });
      expect(body.data.filter((session: { current: boolean }) => session.current)).toHaveLength(1);
      for (const session of body.data) {
        for (const field of ['createdAt', 'lastSeenAt', 'expiresAt']) expect(Number.isNaN(Date.parse(session[field]))).toBe(false);
        // createdAt comes from the database clock, lastSeenAt from the app's: allow a little skew.
        expect(Date.parse(session.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(session.createdAt) - 1000);
        expect(Math.abs(Date.parse(session.createdAt) - Date.now())).toBeLessThan(60_000);
        expect(Date.parse(session.expiresAt)).toBeGreaterThan(Date.now());
      }
      expect(JSON.stringify(body)).not.toContain(account.refreshToken);
    });

    test('security: ending another user’s session is 404 and it keeps working', async () => {
      const owner = await register(app);
      const intruder = await register(app);
      const response = await app.request(`/api/v1/auth/sessions/${sessionIdOf(owner.accessToken)}`, {
        method: 'DELETE',
        headers: bearer(intruder.accessToken),
      });
      await expectError(response, 404, 'not_found');
      expect(await meStatus(app, owner.accessToken)).toBe(200);
      expect((await refresh(owner.refreshToken)).status).toBe(200);
    });

    test('happy: ending one’s own other session is 204 and its tokens are refused at once', async () => {
      const account = await register(app);
      const other = await login(app, account.email, account.password);
      const response = await app.request(`/api/v1/auth/sessions/${sessionIdOf(other.accessToken)}`, {
        method: 'DELETE',
        headers: bearer(account.accessToken),
      });
      expect(response.status).toBe(204);
      expect(await meStatus(app, other.accessToken)).toBe(401);
      expect((await refresh(other.refreshToken)).status).toBe(401);
      expect(await meStatus(app, account.accessToken)).toBe(200);
      const list = await readJson(await app.request('/api/v1/auth/sessions', { headers: bearer(account.accessToken) }));
      expect(list.data.map((session: { id: string }) => session.id)).toEqual([sessionIdOf(account.accessToken)]);
      const again = await app.request(`/api/v1/auth/sessions/${sessionIdOf(other.accessToken)}`, {
        method: 'DELETE',
        headers: bearer(account.accessToken),
      });
      await expectError(again, 404, 'not_found');
    });

    test('error: a session id or cursor holding a NUL character is answered without a 500', async () => {
      const account = await register(app);
      const end = await app.request('/api/v1/auth/sessions/a%00b', { method: 'DELETE', headers: bearer(account.accessToken) });
      expect(end.status).toBeLessThan(500);
      const cursor = Buffer.from(JSON.stringify('a\u0000b')).toString('base64url');
      const list = await app.request(`/api/v1/auth/sessions?cursor=${cursor}`, { headers: bearer(account.accessToken) });
      expect(list.status).toBeLessThan(500);
      expect(await meStatus(app, account.accessToken)).toBe(200);
    });

    test('happy: sessions paginate with limit=1 without repeats; a bad cursor or limit is 422', async () => {
      const account = await register(app);
      const all = [account];
      for (let i = 0; i < 3; i++) all.push({ ...account, ...(await login(app, account.email, account.password)) });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor ? `?limit=1&cursor=${encodeURIComponent(cursor)}` : '?limit=1';
        const response = await app.request(`/api/v1/auth/sessions${query}`, { headers: bearer(account.accessToken) });
        expect(response.status).toBe(200);
        const body = await readJson(response);
        expect(body.data).toHaveLength(1);
        seen.push(body.data[0].id);
        cursor = body.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      expect(pages).toBe(4);
      expect(new Set(seen).size).toBe(4);
      expect(seen.toSorted()).toEqual(all.map((session) => sessionIdOf(session.accessToken)).toSorted());
      const bad = await app.request('/api/v1/auth/sessions?cursor=not-a-cursor!!', { headers: bearer(account.accessToken) });
      const body = await expectError(bad, 422, 'validation_error');
      expect(body.error.details[0].field).toBe('query.cursor');
      for (const limit of ['0', '101', 'abc']) {
        await expectError(
          await app.request(`/api/v1/auth/sessions?limit=${limit}`, { headers: bearer(account.accessToken) }),
          422,
          'validation_error',
        );
      }
    });
  });
}
