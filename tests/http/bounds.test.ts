// Bounds hold on every input (../shared/cases/2026-11-30-bug-reports.md #3): every numeric query
// parameter of every operation in the OpenAPI document refuses out-of-range, fractional and
// non-numeric values with 422 naming the field, and a cursor the API gave out is always taken back.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, expectStatus, register, testEnv } from '../helpers/client.ts';

type Parameter = { in: string; name: string; schema?: { type?: string; minimum?: number; maximum?: number; anyOf?: unknown[] } };
type Operation = { parameters?: Parameter[] };

for (const [name, kind] of kinds) {
  describe(`bounds on ${name}`, () => {
    let app: TestApp;
    let user: Account;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
      user = await register(app);
    });
    afterAll(() => app.close());

    test('error: every integer query parameter refuses 0-below, above-max, fractional and non-numeric values with 422 query.<name>', async () => {
      const document = (await (await app.request('/swagger/json')).json()) as { paths: Record<string, Record<string, Operation>> };
      const checked: string[] = [];
      const wrong: string[] = [];
      for (const [path, operations] of Object.entries(document.paths)) {
        if (path.includes('{') || path.startsWith('/api/v1/admin')) continue; // ids and admin: covered by their suites
        for (const [method, operation] of Object.entries(operations)) {
          if (method !== 'get') continue;
          for (const parameter of operation.parameters ?? []) {
            const schema = parameter.schema ?? {};
            if (parameter.in !== 'query' || schema.minimum === undefined || schema.maximum === undefined) continue;
            checked.push(`${path.replace(/\/$/, '')}?${parameter.name}`);
            const extra = path.endsWith('/search') ? '&q=chat' : '';
            for (const value of [String(schema.minimum - 1), '-5', String(schema.maximum + 1), '1.5', 'abc', '1e3']) {
              const response = await app.request(`${path}?${parameter.name}=${value}${extra}`, { headers: bearer(user.accessToken) });
              const body = (await response.json()) as { error?: { code?: string; details?: { field: string }[] } };
              if (response.status !== 422 || body.error?.details?.[0]?.field !== `query.${parameter.name}`) {
                wrong.push(`${path}?${parameter.name}=${value} → ${response.status} ${JSON.stringify(body.error?.details)}`);
              }
            }
          }
        }
      }
      expect(checked).toEqual(
        expect.arrayContaining([
          '/api/v1/chats?limit',
          '/api/v1/chats/search?limit',
          '/api/v1/auth/sessions?limit',
          '/api/v1/auth/api-keys?limit',
          '/api/v1/users/me/usage?days',
        ]),
      );
      expect(wrong).toEqual([]);
    });

    test('happy: limit=1 pages through chats and search, and every nextCursor given out is accepted back', async () => {
      for (let i = 0; i < 3; i++) await createChat(app, user.accessToken, { title: `paged chat ${i}` });
      for (const base of ['/api/v1/chats?limit=1', '/api/v1/chats/search?q=paged&limit=1']) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const url: string = cursor ? `${base}&cursor=${encodeURIComponent(cursor)}` : base;
          const page = await expectStatus(await app.request(url, { headers: bearer(user.accessToken) }), 200);
          expect(page.data.length).toBeLessThanOrEqual(1);
          seen.push(...page.data.map((item: { id?: string; chat?: { id: string } }) => item.id ?? item.chat?.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(new Set(seen).size).toBe(3);
      }
    });
  });
}
