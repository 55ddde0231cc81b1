// The Idempotency-Key header's rule (1 to 255 printable ASCII characters, src/http/idempotency.ts)
// is said in the OpenAPI document too: every documented `idempotency-key` header parameter carries
// minLength, maxLength and a pattern that accepts and refuses exactly what the server does.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectStatus, httpOf, type Json, register, testEnv } from '../helpers/client.ts';

const samples: [string, boolean][] = [
  ['3f6c1b9e-5d2a-4c7e-9a41-2b8f0d6e7c15', true],
  ['x', true],
  [' spaces and ~tildes~ ', true],
  ['x'.repeat(255), true],
  ['', false],
  ['x'.repeat(256), false],
  ['tab\there', false],
  ['caf\u00c3\u00a9', false],
  ['del\u007f', false],
];

for (const [name, kind] of kinds) {
  describe(`the documented Idempotency-Key header on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app?.close());

    test('happy: every idempotency-key header parameter has minLength 1, maxLength 255 and the printable-ASCII pattern', async () => {
      const document = await expectStatus(await app.request('/swagger/json'), 200);
      const headers: [string, Json][] = [];
      for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
        for (const [method, operation] of Object.entries(item)) {
          for (const parameter of operation?.parameters ?? []) {
            if (parameter.in === 'header' && parameter.name === 'idempotency-key') headers.push([`${method} ${path}`, parameter.schema]);
          }
        }
      }
      expect(headers.length).toBeGreaterThanOrEqual(8);
      for (const [where, schema] of headers) {
        expect({
          where,
          type: schema.type,
          minLength: schema.minLength,
          maxLength: schema.maxLength,
          pattern: typeof schema.pattern,
        }).toEqual({
          where,
          type: 'string',
          minLength: 1,
          maxLength: 255,
          pattern: 'string',
        });
        // The documented pattern (with the lengths) says what the server accepts, no more and no less.
        const pattern = new RegExp(schema.pattern);
        for (const [key, valid] of samples) {
          const documented = pattern.test(key) && key.length >= schema.minLength && key.length <= schema.maxLength;
          expect({ where, key, documented }).toEqual({ where, key, documented: valid });
        }
      }
    });

    test('error: the server refuses what the document refuses, with 422 naming header.idempotency-key', async () => {
      const user = await register(app);
      for (const [key, valid] of samples) {
        const headers = new Headers({ ...bearer(user.accessToken), 'content-type': 'application/json' });
        headers.set('idempotency-key', key);
        const response = await httpOf(app)('/api/v1/chats', { method: 'POST', headers, body: '{}' });
        if (valid) {
          await expectStatus(response, 201);
          continue;
        }
        const body = await expectStatus(response, 422, 'validation_error');
        expect({ key, field: body.error.details[0].field }).toEqual({ key, field: 'header.idempotency-key' });
      }
    });
  });
}
