// PATCH /users/me/preferences and keys that name an object's prototype machinery (`__proto__`,
// `constructor`, `prototype`): refused with 422 naming the field, never merged, on every storage
// kind; the merge itself builds objects without a prototype, so no key can reach one.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, readJson, register, testEnv } from '../helpers/client.ts';

const reserved = ['__proto__', 'constructor', 'prototype'];

for (const [name, kind] of kinds) {
  describe(`preference keys on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app?.close());

    const me = async (accessToken: string) => {
      const response = await app.request('/api/v1/users/me', { headers: bearer(accessToken) });
      expect(response.status).toBe(200);
      return readJson(response);
    };
    /** A raw JSON body: `{"__proto__": …}` written as text, as a client sends it (an object literal would set the prototype). */
    const patchRaw = (accessToken: string, body: string) =>
      app.request('/api/v1/users/me/preferences', {
        method: 'PATCH',
        headers: { ...bearer(accessToken), 'content-type': 'application/json' },
        body,
      });

    test('security: a __proto__, constructor or prototype key is 422 naming the field, and nothing is stored', async () => {
      const account = await register(app);
      expect((await patchRaw(account.accessToken, '{"theme":"dark"}')).status).toBe(200);
      for (const key of reserved) {
        for (const value of ['{"isAdmin":true}', '"x"', 'null']) {
          const body = `{"theme":"light",${JSON.stringify(key)}:${value}}`;
          const error = await expectError(await patchRaw(account.accessToken, body), 422, 'validation_error');
          expect({ body, fields: error.error.details.map((detail: { field: string }) => detail.field) }).toEqual({
            body,
            fields: [`body.${key}`],
          });
        }
      }
      const stored = await me(account.accessToken);
      expect(stored.preferences).toEqual({ theme: 'dark' });
      expect(Object.keys(stored.preferences)).toEqual(['theme']);
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    });

    test('security: the merge never sets a prototype, whatever the stored or given keys (service level)', async () => {
      const account = await register(app);
      const users = app.services.users;
      await users.mergePreferences(account.userId, { theme: 'dark' });
      // Past the route's schema (a caller inside the app): a __proto__ own key, as JSON.parse makes it.
      const changes = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"lang":"en"}');
      const profile = await users.mergePreferences(account.userId, changes);
      const preferences = profile.preferences as Record<string, unknown>;
      // Each is an own key like any other, none a prototype: nothing reads through to `polluted`.
      expect(Object.getPrototypeOf(preferences)).not.toEqual({ polluted: true });
      expect(preferences.polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const stored = (await me(account.accessToken)).preferences;
      for (const merged of [preferences, stored]) {
        expect(Object.keys(merged).sort()).toEqual(['__proto__', 'constructor', 'lang', 'theme']);
        expect(Object.getOwnPropertyDescriptor(merged, '__proto__')?.value).toEqual({ polluted: true });
        expect(merged.theme).toBe('dark');
      }
      // A later merge over the stored keys (the spread of what is stored) keeps them own keys too.
      const again = (await users.mergePreferences(account.userId, { size: 1 })).preferences as Record<string, unknown>;
      expect(Object.keys(again).sort()).toEqual(['__proto__', 'constructor', 'lang', 'size', 'theme']);
      expect((again as { polluted?: unknown }).polluted).toBeUndefined();
    });

    test('happy: keys that merely contain those words are ordinary keys', async () => {
      const account = await register(app);
      const response = await patchRaw(account.accessToken, '{"my__proto__":1,"constructors":2,"prototype_x":3,"Prototype":4}');
      expect(response.status).toBe(200);
      expect((await readJson(response)).preferences).toEqual({ my__proto__: 1, constructors: 2, prototype_x: 3, Prototype: 4 });
    });
  });
}
