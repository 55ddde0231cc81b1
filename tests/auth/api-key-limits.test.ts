// What an API key may carry (issue 15, point 6): allowed models, requests and tokens per minute, a
// monthly token budget and an expiry, set at creation and changed with PATCH /auth/api-keys/:id,
// on every storage kind. Only a signed-in session manages them; another user's key is 404.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, createApiKey, expectError, expectStatus, type Json, readJson, register } from '../helpers/client.ts';

const noLimits = { allowedModels: null, requestsPerMinute: null, tokensPerMinute: null, monthlyTokenBudget: null };

for (const [name, kind] of kinds) {
  describe(`API key limits on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { RATE_LIMIT_ENABLED: 'false', ADMIN_API_KEY: 'admin-key-for-tests-0123456789' });
    });
    afterAll(() => app.close());

    const patch = (token: string, id: string, json: unknown) =>
      app.request(`/api/v1/auth/api-keys/${id}`, { method: 'PATCH', headers: bearer(token), json });
    const listKeys = async (token: string) =>
      (await expectStatus(await app.request('/api/v1/auth/api-keys', { headers: bearer(token) }), 200)).data;

    test('happy: limits set at creation are shown on the key, in the list, and never the key itself', async () => {
      const account = await register(app);
      const created = await createApiKey(app, account.accessToken, {
        name: 'gateway',
        allowedModels: [' openai/gpt-5* ', 'claude/claude-*-5-5', 'echo/echo', 'echo/echo'],
        requestsPerMinute: 60,
        tokensPerMinute: 100_000,
        monthlyTokenBudget: 5_000_000_000,
      });
      const limits = {
        // Trimmed, the alias named canonically, duplicates dropped.
        allowedModels: ['openai/gpt-5*', 'anthropic/claude-*-5-5', 'echo/echo'],
        requestsPerMinute: 60,
        tokensPerMinute: 100_000,
        monthlyTokenBudget: 5_000_000_000,
      };
      expect(created).toMatchObject({ name: 'gateway', expiresAt: null, ...limits });
      expect(created.key).toStartWith('pk_');
      const [listed] = await listKeys(account.accessToken);
      expect(listed).toEqual({
        id: created.id,
        name: 'gateway',
        prefix: created.prefix,
        createdAt: created.createdAt,
        expiresAt: null,
        lastUsedAt: null,
        ...limits,
      });
      // A key without limits says so with nulls.
      expect(await createApiKey(app, account.accessToken, { name: 'plain' })).toMatchObject({ name: 'plain', ...noLimits });
    });

    test('happy: PATCH changes only what it names, null removes a limit or the expiry, and the key keeps working', async () => {
      const account = await register(app);
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      const created = await createApiKey(app, account.accessToken, { name: 'k', expiresAt, requestsPerMinute: 5 });
      const renamed = await expectStatus(await patch(account.accessToken, created.id, { name: 'renamed', tokensPerMinute: 900 }), 200);
      expect(renamed).toMatchObject({ id: created.id, name: 'renamed', requestsPerMinute: 5, tokensPerMinute: 900, expiresAt });
      expect(renamed.key).toBeUndefined();
      const later = new Date(Date.now() + 7 * 86_400_000).toISOString();
      const changed = await expectStatus(
        await patch(account.accessToken, created.id, {
          expiresAt: later,
          allowedModels: ['ollama/llama3*'],
          monthlyTokenBudget: 1000,
          requestsPerMinute: null,
        }),
        200,
      );
      expect(changed).toMatchObject({
        name: 'renamed',
        expiresAt: later,
        allowedModels: ['ollama/llama3*'],
        requestsPerMinute: null,
        tokensPerMinute: 900,
        monthlyTokenBudget: 1000,
      });
      const cleared = await expectStatus(
        await patch(account.accessToken, created.id, {
          expiresAt: null,
          allowedModels: null,
          tokensPerMinute: null,
          monthlyTokenBudget: null,
        }),
        200,
      );
      expect(cleared).toMatchObject({ name: 'renamed', expiresAt: null, ...noLimits });
      // An empty patch changes nothing and answers the key.
      expect(await expectStatus(await patch(account.accessToken, created.id, {}), 200)).toEqual(cleared);
      expect((await listKeys(account.accessToken))[0]).toEqual(cleared);
      expect((await app.request('/api/v1/auth/me', { headers: bearer(created.key) })).status).toBe(200);
    });

    test('error: a malformed limit is 422 naming its field, at creation and in a PATCH; nothing is stored', async () => {
      const account = await register(app);
      const create = (json: unknown) =>
        app.request('/api/v1/auth/api-keys', { method: 'POST', headers: bearer(account.accessToken), json });
      const field = async (response: Response) => (await expectError(response, 422, 'validation_error')).error.details[0].field;
      expect(await field(await create({ name: 'x', allowedModels: ['gpt-5.5'] }))).toBe('body.allowedModels.0');
      expect(await field(await create({ name: 'x', allowedModels: ['echo/echo', 'mistral/large'] }))).toBe('body.allowedModels.1');
      expect(await field(await create({ name: 'x', allowedModels: ['openai/'] }))).toBe('body.allowedModels.0');
      expect(await field(await create({ name: 'x', allowedModels: ['/gpt'] }))).toBe('body.allowedModels.0');
      expect(await field(await create({ name: 'x', allowedModels: [''] }))).toStartWith('body.allowedModels');
      expect(await field(await create({ name: 'x', allowedModels: 'openai/*' }))).toStartWith('body.allowedModels');
      expect(await field(await create({ name: 'x', requestsPerMinute: 0 }))).toStartWith('body.requestsPerMinute');
      expect(await field(await create({ name: 'x', tokensPerMinute: 1.5 }))).toStartWith('body.tokensPerMinute');
      expect(await field(await create({ name: 'x', monthlyTokenBudget: -1 }))).toStartWith('body.monthlyTokenBudget');
      expect(await field(await create({ name: 'x', tokensPerMinute: 3_000_000_000 }))).toStartWith('body.tokensPerMinute');
      expect(await listKeys(account.accessToken)).toEqual([]);

      const created = await createApiKey(app, account.accessToken, { name: 'k', requestsPerMinute: 3 });
      expect(await field(await patch(account.accessToken, created.id, { allowedModels: ['nope'] }))).toBe('body.allowedModels.0');
      expect(await field(await patch(account.accessToken, created.id, { expiresAt: '2001-01-01T00:00:00Z' }))).toBe('body.expiresAt');
      expect(await field(await patch(account.accessToken, created.id, { requestsPerMinute: -5 }))).toStartWith('body.requestsPerMinute');
      expect(await field(await patch(account.accessToken, created.id, { name: '' }))).toStartWith('body.name');
      expect(await field(await patch(account.accessToken, created.id, { unknown: 1 }))).toStartWith('body');
      expect((await listKeys(account.accessToken))[0]).toMatchObject({ name: 'k', requestsPerMinute: 3, allowedModels: null });
    });

    test('security: only a signed-in session changes a key: not the key itself, not another user; revoked keys are gone', async () => {
      const owner = await register(app);
      const stranger = await register(app);
      const created = await createApiKey(app, owner.accessToken, { name: 'k', requestsPerMinute: 1 });
      // A leaked key must not lift its own limits.
      await expectError(await patch(created.key, created.id, { requestsPerMinute: null }), 403, 'forbidden');
      await expectError(await patch(stranger.accessToken, created.id, { requestsPerMinute: null }), 404, 'not_found');
      await expectError(await patch(owner.accessToken, 'no-such-key', { name: 'x' }), 404, 'not_found');
      const unauthenticated = await app.request(`/api/v1/auth/api-keys/${created.id}`, { method: 'PATCH', json: { name: 'x' } });
      await expectError(unauthenticated, 401, 'unauthorized');
      expect((await listKeys(owner.accessToken))[0]).toMatchObject({ name: 'k', requestsPerMinute: 1 });
      expect(
        (await app.request(`/api/v1/auth/api-keys/${created.id}`, { method: 'DELETE', headers: bearer(owner.accessToken) })).status,
      ).toBe(204);
      await expectError(await patch(owner.accessToken, created.id, { name: 'back' }), 404, 'not_found');
      const guest = await readJson(await app.request('/api/v1/auth/guest', { method: 'POST' }));
      await expectError(await patch(guest.accessToken, created.id, { name: 'x' }), 403, 'forbidden');
    });

    test('security: usage of a key is its owner’s and admins’ only; the admin lists a user’s keys with their limits', async () => {
      const owner = await register(app);
      const stranger = await register(app);
      const created = await createApiKey(app, owner.accessToken, { name: 'k', monthlyTokenBudget: 100 });
      const usage = (token: string | Record<string, string>, id = created.id) =>
        app.request(`/api/v1/auth/api-keys/${id}/usage`, { headers: typeof token === 'string' ? bearer(token) : token });
      const empty = await expectStatus(await usage(owner.accessToken), 200);
      expect(empty).toMatchObject({
        apiKeyId: created.id,
        totals: { requests: 0, inputTokens: 0, outputTokens: 0 },
        byDay: [],
        byModel: [],
        limits: { ...noLimits, monthlyTokenBudget: 100 },
        month: { used: 0, remaining: 100 },
      });
      expect(Date.parse(empty.month.resetsAt)).toBeGreaterThan(Date.now());
      // The key may read its own usage (reading lifts nothing).
      expect((await usage(created.key)).status).toBe(200);
      await expectError(await usage(stranger.accessToken), 404, 'not_found');
      await expectError(await usage(owner.accessToken, 'no-such-key'), 404, 'not_found');
      await expectError(await usage({}), 401, 'unauthorized');

      const asAdminUsage = await app.request(`/api/v1/admin/api-keys/${created.id}/usage`, { headers: asAdmin });
      expect(await expectStatus(asAdminUsage, 200)).toEqual(empty);
      await expectError(
        await app.request(`/api/v1/admin/api-keys/${created.id}/usage`, { headers: bearer(owner.accessToken) }),
        403,
        'forbidden',
      );
      await expectError(await app.request('/api/v1/admin/api-keys/no-such-key/usage', { headers: asAdmin }), 404, 'not_found');
      const keys = await expectStatus(await app.request(`/api/v1/admin/users/${owner.userId}/api-keys`, { headers: asAdmin }), 200);
      expect(keys.data.map((key: Json) => [key.id, key.monthlyTokenBudget])).toEqual([[created.id, 100]]);
      expect(JSON.stringify(keys)).not.toContain(created.key);
      await expectError(await app.request('/api/v1/admin/users/no-such-user/api-keys', { headers: asAdmin }), 404, 'not_found');

      // A revoked key's history stays readable by its owner.
      await app.request(`/api/v1/auth/api-keys/${created.id}`, { method: 'DELETE', headers: bearer(owner.accessToken) });
      expect((await usage(owner.accessToken)).status).toBe(200);
    });
  });
}
