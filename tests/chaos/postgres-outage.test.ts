// Postgres cut for a moment (a TCP proxy between the app and the server, tests/helpers/tcp-proxy.ts):
// requests that need the database answer 503 `unavailable` with Retry-After (never 500), health
// says the database is down, and once it is back the same process serves again, without a restart.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type StorageKind, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, expectStatus, type Http, httpOf, type Json, register } from '../helpers/client.ts';
import { createTestDatabase, hasPostgres, hasRedis, postgresAdminUrl } from '../helpers/services.ts';
import { startTcpProxy, type TcpProxy, targetOf, throughProxy } from '../helpers/tcp-proxy.ts';
import { waitUntil } from '../helpers/wait.ts';
import { WsClient } from '../helpers/ws.ts';
import { expectNoUnhandled, expectUnavailable } from './outage.ts';

// The database is Postgres (DATABASE_URL through the proxy), beside Redis as in production (memory
// without it): the KV plays no part in a database outage. (Closing the app afterwards takes the
// whole DATABASE_CLOSE_TIMEOUT_MS, postgres.js's end timeout: a connection whose query failed with
// CONNECTION_CLOSED and was not used again keeps that query, and end() waits for it. Only shutdown
// is slower; this app waits 200 ms for it, not the default 5 s.)
const kvKinds: StorageKind['kv'][] = [hasRedis ? 'redis' : 'memory'];

for (const kv of kvKinds) {
  describe.if(hasPostgres)(`Postgres outage (KV: ${kv})`, () => {
    let t: TestApp;
    let http: Http;
    let proxy: TcpProxy;
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    let user: Account;

    beforeAll(async () => {
      database = await createTestDatabase({ migrated: true });
      proxy = startTcpProxy(targetOf(postgresAdminUrl, 5432));
      // `database: 'sqlite'` only stops the helper making a database of its own: DATABASE_URL selects Postgres.
      t = await createTestApp(
        { database: 'sqlite', kv },
        {
          DATABASE_URL: throughProxy(database.url, proxy),
          RATE_LIMIT_ENABLED: 'false',
          DATABASE_CLOSE_TIMEOUT_MS: '200',
        },
      );
      expect(t.infra.db.kind).toBe('postgres');
      t.app.listen({ port: 0, hostname: '127.0.0.1' });
      http = httpOf(t);
      user = await register(http);
    });
    // postgres.js waits out its end timeout (DATABASE_CLOSE_TIMEOUT_MS) for a connection cut mid-query.
    afterAll(async () => {
      await proxy?.restore();
      await t?.app.stop(true);
      await t?.close();
      proxy?.close();
      await database?.drop();
    }, 20_000);

    test('error: while Postgres is cut, routes answer 503 unavailable with Retry-After and health says down; after, the same process serves again', async () => {
      const auth = bearer(user.accessToken);
      const chat = await createChat(http, user.accessToken, { title: 'before the cut' });

      proxy.cut();
      try {
        await expectUnavailable(t, await http('/api/v1/chats', { headers: auth }), 'GET /chats');
        await expectUnavailable(
          t,
          await http('/api/v1/chats', { method: 'POST', headers: auth, json: { title: 'during' } }),
          'POST /chats',
        );
        await expectUnavailable(t, await http(`/api/v1/chats/${chat.id}`, { headers: auth }), 'GET /chats/:id');
        await expectUnavailable(
          t,
          await http('/api/v1/auth/login', { method: 'POST', json: { email: user.email, password: user.password } }),
          'POST /auth/login',
        );
        const health = await http('/api/v1/health/detailed');
        expect(health.status).toBe(503);
        expect(Number(health.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(await health.json()).toMatchObject({ status: 'down', database: { kind: 'postgres', status: 'down' } });

        // A websocket cannot check its token: it is told the service is away and closed, not refused as unauthorized.
        const socket = new WsClient(new WebSocket(`ws://127.0.0.1:${t.app.server!.port}/api/v1/ws?token=${user.accessToken}`));
        const closed = await Promise.race([socket.closed, Bun.sleep(5000).then(() => undefined)]);
        expect(closed?.code).toBe(1013);
        expect(socket.frames).toEqual([{ type: 'error', code: 'unavailable', message: expect.any(String) }]);
      } finally {
        await proxy.restore();
      }

      // Reconnects on its own: no restart.
      await waitUntil(async () => (await http('/api/v1/health/detailed')).status === 200, 'database back', 10_000, 100);
      const list = await expectStatus(await http('/api/v1/chats', { headers: auth }), 200);
      expect(list.data.map((c: Json) => c.id)).toEqual([chat.id]);
      const created = await expectStatus(await http('/api/v1/chats', { method: 'POST', headers: auth, json: { title: 'after' } }), 201);
      expect(created.title).toBe('after');
      await expectStatus(await http('/api/v1/auth/login', { method: 'POST', json: { email: user.email, password: user.password } }), 200);
      expectNoUnhandled(t);
    }, 30_000);
  });
}
