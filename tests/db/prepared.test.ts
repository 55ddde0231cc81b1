// The hot paths build no SQL text per request: every query on them is built and prepared once per
// process (db.prepare). Counted at the one place Drizzle turns a query into SQL text
// (`sqlToQuery`, which every un-prepared query goes through on each run, on both dialects).
// Then each prepared query's plan is read back: none may scan a whole table.

import { Database as SqliteClient } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { PgDialect } from 'drizzle-orm/pg-core';
import { SQLiteDialect } from 'drizzle-orm/sqlite-core';
import postgres from 'postgres';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, readJson, register, testEnv } from '../helpers/client.ts';

let built = 0;
for (const dialect of [PgDialect.prototype, SQLiteDialect.prototype] as { sqlToQuery: (...args: unknown[]) => unknown }[]) {
  const original = dialect.sqlToQuery;
  dialect.sqlToQuery = function (this: unknown, ...args: unknown[]) {
    built++;
    return original.apply(this, args);
  };
}

for (const [name, kind] of kinds) {
  describe(`prepared hot paths on ${name}`, () => {
    let app: TestApp;
    let token: string;
    let apiKey: string;
    let chatId: string;

    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0' });
      const account = await register(app);
      token = account.accessToken;
      apiKey = (await createApiKey(app, token)).key;
      for (let i = 0; i < 3; i++) {
        const response = await app.request('/api/v1/chats', { method: 'POST', headers: bearer(token), json: { title: `chat ${i}` } });
        chatId = (await readJson(response)).id;
      }
    });
    afterAll(() => app.close());

    /** One of each hot request, every filter variant included; each must succeed. */
    const hotRequests = async () => {
      const statuses: number[] = [];
      const get = async (path: string, credential = token) => {
        const response = await app.request(path, { headers: bearer(credential) });
        statuses.push(response.status);
        return response.status === 200 ? readJson(response) : null;
      };
      await get('/api/v1/auth/me');
      await get('/api/v1/auth/me', apiKey);
      const first = await get('/api/v1/chats?limit=2');
      await get(`/api/v1/chats?limit=2&cursor=${first.nextCursor}`);
      await get('/api/v1/chats?limit=2', apiKey);
      await get('/api/v1/chats?limit=2&q=chat&category=work');
      await get(`/api/v1/chats/${chatId}`);
      const page = await get(`/api/v1/chats/${chatId}/messages?limit=1`);
      if (page?.nextCursor) await get(`/api/v1/chats/${chatId}/messages?limit=1&cursor=${page.nextCursor}`);
      const sent = await app.request(`/api/v1/chats/${chatId}/messages`, {
        method: 'POST',
        headers: bearer(token),
        json: { content: 'hello there', stream: false },
      });
      statuses.push(sent.status);
      await sent.arrayBuffer();
      return statuses;
    };

    test('happy: after one warm-up pass, lists, gets, auth and a whole reply build no SQL text', async () => {
      expect((await hotRequests()).every((status) => status === 200)).toBe(true);
      expect((await hotRequests()).every((status) => status === 200)).toBe(true);
      const before = built;
      const statuses = await hotRequests();
      expect(statuses.every((status) => status === 200)).toBe(true);
      expect(built - before).toBe(0);
    });

    test('happy: no prepared query scans a table', async () => {
      const queries = app.infra.db.preparedQueries();
      expect(queries.map((query) => query.name)).toEqual(
        expect.arrayContaining([
          'auth.sessionWithUser',
          'auth.apiKeyWithUser',
          'chats.list.000',
          'chats.byId',
          'chats.path.upTo',
          'chats.tree',
          'chats.lastQuestion',
          'chats.questionVersions.root',
          'replies.insert',
          'replies.finish',
          'users.addUsage',
        ]),
      );
      const scans: string[] = [];
      if (app.infra.db.kind === 'sqlite') {
        const client = new SqliteClient(join(app.infra.config.dataDir, 'parley.db'), { readonly: true });
        for (const query of queries) {
          const plan = client.query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${query.sql}`).all();
          for (const row of plan)
            if (/^SCAN /.test(row.detail) || /TEMP B-TREE/.test(row.detail)) scans.push(`${query.name}: ${row.detail}`);
        }
        client.close();
      } else {
        // Tiny test tables make a sequential scan the cheapest plan; forbidding it shows whether an index can serve.
        const sql = postgres(app.infra.config.databaseUrl!, { max: 1, onnotice: () => {} });
        await sql.begin(async (tx) => {
          await tx.unsafe('SET LOCAL enable_seqscan = off');
          await tx.unsafe('SET LOCAL plan_cache_mode = force_generic_plan');
          for (const [i, query] of queries.entries()) {
            const params = (query.sql.match(/\$\d+/g) ?? []).length;
            await tx.unsafe(`PREPARE explain_${i} AS ${query.sql}`);
            const plan = await tx.unsafe(`EXPLAIN EXECUTE explain_${i}(${Array(params).fill('NULL').join(', ')})`);
            for (const row of plan) {
              const line = String(row['QUERY PLAN']);
              if (/Seq Scan|Sort\b/.test(line)) scans.push(`${query.name}: ${line.trim()}`);
            }
          }
        });
        await sql.end();
      }
      expect(scans).toEqual([]);
    });
  });
}
