// One security pass over every operation the OpenAPI document says needs credentials: without
// any, each answers 401 in the error shape, before its body is looked at (an empty body would be
// a 422 if validation ran first, describing the route's schema to an anonymous caller).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEnv } from '../helpers/client.ts';

type Operation = { security?: Record<string, unknown>[] };

describe('every protected route', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(undefined, testEnv);
  });
  afterAll(() => app.close());

  test('security: no credentials is 401 unauthorized on each, whatever the body', async () => {
    const document = (await (await app.request('/swagger/json')).json()) as { paths: Record<string, Record<string, Operation>> };
    const answers: string[] = [];
    let checked = 0;
    for (const [path, operations] of Object.entries(document.paths)) {
      if (path === '/api/v1/ws') continue; // a websocket: its own 4401, tested in tests/realtime
      for (const [method, operation] of Object.entries(operations)) {
        const security = operation.security ?? [];
        // Public routes, and routes where credentials are optional, list an empty requirement.
        if (security.length === 0 || security.some((requirement) => Object.keys(requirement).length === 0)) continue;
        const url = path.replace(/\{[^}]+\}/g, 'some-id');
        const withBody = ['post', 'put', 'patch'].includes(method);
        const response = await app.request(url, { method: method.toUpperCase(), ...(withBody ? { json: {} } : {}) });
        const body = (await response.json()) as { error?: { code?: string } };
        checked++;
        if (response.status !== 401 || body.error?.code !== 'unauthorized')
          answers.push(`${method.toUpperCase()} ${path} → ${response.status} ${body.error?.code}`);
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(answers).toEqual([]);
  });
});
