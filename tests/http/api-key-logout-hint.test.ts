// Logging out with an API key is refused with a hint, and the hint must be one that works: a key
// cannot revoke keys (DELETE /auth/api-keys/:id takes a signed-in session only), so it says to
// sign in and revoke the key from there. Followed step by step here, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { UserCaller } from '../../src/http/auth.ts';
import { AppError } from '../../src/http/errors.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, expectError, expectStatus, httpOf, login, meStatus, register, testEnv } from '../helpers/client.ts';

for (const [name, kind] of kinds) {
  describe(`logging out with an API key on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app?.close());

    test('error: the refusal says to sign in and revoke the key, and doing so works where the key alone cannot', async () => {
      const account = await register(app);
      const { key, id } = await createApiKey(app, account.accessToken);
      const caller = await app.services.auth.resolveCaller(new Request('http://localhost/api/v1/auth/logout', { headers: bearer(key) }));
      expect(caller?.via).toBe('apiKey');

      const refusal = await app.services.auth.sessionList.logout(caller as UserCaller).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(AppError);
      const { code, message } = refusal as AppError;
      expect(code).toBe('forbidden');
      expect(message).toMatch(/sign in/i);
      expect(message).toContain('DELETE /api/v1/auth/api-keys/:id');

      // The key itself cannot do what the old hint said...
      const http = httpOf(app);
      await expectError(await http(`/api/v1/auth/api-keys/${id}`, { method: 'DELETE', headers: bearer(key) }), 403, 'forbidden');
      expect(await meStatus(app, key)).toBe(200);
      // ...a signed-in session can.
      const session = await login(app, account.email, account.password);
      await expectStatus(await http(`/api/v1/auth/api-keys/${id}`, { method: 'DELETE', headers: bearer(session.accessToken) }), 204);
      expect(await meStatus(app, key)).toBe(401);
    });

    test('happy: over HTTP, logout with an API key is 403 telling to sign in; with a session it ends the session', async () => {
      const account = await register(app);
      const { key } = await createApiKey(app, account.accessToken);
      const http = httpOf(app);
      const refused = await expectError(await http('/api/v1/auth/logout', { method: 'POST', headers: bearer(key) }), 403, 'forbidden');
      expect(refused.error.message).toMatch(/sign in/i);
      await expectStatus(await http('/api/v1/auth/logout', { method: 'POST', headers: bearer(account.accessToken) }), 204);
      expect(await meStatus(app, account.accessToken)).toBe(401);
      expect(await meStatus(app, key)).toBe(200);
    });
  });
}
