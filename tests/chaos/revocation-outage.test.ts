// A revocation lost on pub/sub while Redis is away still ends the live connections holding the
// revoked credentials, on every instance. Instances A, B and P share one Postgres and one Redis key
// prefix; A and B reach Redis through TCP proxies that can be cut (tests/helpers/tcp-proxy.ts),
// P directly. A re-checks periodically only once an hour, so only the re-check after its KV
// subscription comes back (or after B says it could not publish) can end its connections quickly;
// P re-checks every `periodicMs`, the backstop that needs no reconnect at all. Connections whose
// credentials still hold stay open.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import type { Caller } from '../../src/http/auth.ts';
import type { Database } from '../../src/infra/db/index.ts';
import { createMemoryStore } from '../../src/infra/kv/memory.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { createRevocations } from '../../src/modules/auth/revocations.ts';
import { createLiveConnections, type EndReason } from '../../src/modules/realtime/connections.ts';
import { createTestApp, type StorageKind, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  asAdmin,
  bearer,
  copy,
  createApiKey,
  expectStatus,
  type Http,
  httpOf,
  type Json,
  login,
  meStatus,
  register,
  testEnv,
} from '../helpers/client.ts';
import { hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';
import { startTcpProxy, type TcpProxy, targetOf, throughProxy } from '../helpers/tcp-proxy.ts';
import { waitUntil } from '../helpers/wait.ts';
import { WsClient } from '../helpers/ws.ts';
import { kvStatus } from './outage.ts';

// P's REVOCATION_RECHECK_MS: a lost revocation ends P's connections within this plus 1 s.
const periodicMs = 500;
// What the contract allows once the loss can be noticed (the KV is back).
const withinMs = 1000;

type Instance = { t: TestApp; http: Http; wsUrl: string; sockets: WsClient[]; readers: SseReader[] };

async function startInstance(kind: StorageKind | undefined, env: Record<string, string | undefined>): Promise<Instance> {
  const t = await createTestApp(kind, { ...testEnv, ...env });
  t.app.listen({ port: 0, hostname: '127.0.0.1' });
  await t.services.live.ready();
  return { t, http: httpOf(t), wsUrl: `ws://127.0.0.1:${t.app.server!.port}/api/v1/ws`, sockets: [], readers: [] };
}

async function stopInstance(instance: Instance | undefined) {
  if (!instance) return;
  await Promise.all(instance.readers.map((reader) => reader.cancel().catch(() => undefined)));
  await Promise.all(instance.sockets.map((socket) => socket.close()));
  await instance.t.app.stop(true);
  await instance.t.close();
}

/** A socket of `credential` on `instance`, ready, with the time it closes (ms) once it does. */
async function openSocket(instance: Instance, credential: string) {
  const socket = await WsClient.ready(instance.wsUrl, credential);
  instance.sockets.push(socket);
  return { socket, closedAt: socket.closed.then((event) => ({ ...event, at: Date.now() })) };
}

const post = (http: Http, path: string, token: string, json?: unknown) =>
  http(path, { method: 'POST', headers: bearer(token), ...(json !== undefined ? { json } : {}) });

/** A generic stream with one event (made on `owner`'s behalf), and an SSE reader of it on `instance` that has read that event. */
async function streamReader(instance: Instance, owner: string, credential: string = owner) {
  const { id } = await expectStatus(await post(instance.http, '/api/v1/streams', owner, {}), 201);
  await expectStatus(await post(instance.http, `/api/v1/streams/${id}/append`, owner, { event: 'note', data: { n: 1 } }), 202);
  const reader = new SseReader(await instance.http(`/api/v1/streams/${id}`, { headers: bearer(credential) }));
  instance.readers.push(reader);
  const first = await reader.next();
  expect(first?.event).toBe('note');
  return { id: id as string, reader, firstId: first!.id };
}

/** The socket closed with 4401 at most `withinMs` after `since`, its last frame `error {code: "unauthorized", message}`. */
async function expectEnded(
  opened: Awaited<ReturnType<typeof openSocket>>,
  since: number | Promise<number>,
  message: string,
  limitMs: number,
) {
  const closed = await Promise.race([opened.closedAt, Bun.sleep(limitMs + 5000).then(() => undefined)]);
  expect(closed?.code).toBe(4401);
  expect(closed!.at - (await since)).toBeLessThan(limitMs);
  expect(copy(opened.socket.frames.at(-1))).toMatchObject({ type: 'error', code: 'unauthorized', message });
}

/** The SSE reader's next event is `error {code: "unauthorized", message}` carrying the last id it read, then the body ends. */
async function expectSseEnded(reader: SseReader, firstId: string, message: string, limitMs: number) {
  const event = await reader.next(limitMs + 5000);
  expect(copy(event)).toMatchObject({ event: 'error', id: firstId, data: { code: 'unauthorized', message } });
  expect(await reader.next()).toBeUndefined();
}

/** The socket is open and answers a ping. */
async function expectAlive(socket: WsClient) {
  expect(socket.isOpen).toBe(true);
  const from = socket.frames.length;
  socket.send({ type: 'ping' });
  await socket.waitFor((frame) => frame.type === 'pong', 'pong', 2000, from);
}

/** When `app`'s KV reports ok again, ms (polled every 10 ms). */
const backAt = (app: TestApp) => waitUntil(() => app.infra.kv.status() === 'ok' && Date.now(), 'kv ok', 15_000, 10);

const currentSessionId = async (http: Http, token: string): Promise<string> => {
  const page = await expectStatus(await http('/api/v1/auth/sessions', { headers: bearer(token) }), 200);
  return page.data.find((session: Json) => session.current).id;
};

describe.if(hasPostgres && hasRedis)('revocations lost while Redis is away (A and B through cuttable proxies, P direct)', () => {
  let proxyA: TcpProxy;
  let proxyB: TcpProxy;
  let a: Instance;
  let b: Instance;
  let p: Instance;

  beforeAll(async () => {
    proxyA = startTcpProxy(targetOf(redisUrl, 6379));
    proxyB = startTcpProxy(targetOf(redisUrl, 6379));
    // An hour: A's periodic re-check never runs during the suite.
    a = await startInstance(
      { database: 'postgres', kv: 'redis' },
      { REDIS_URL: throughProxy(redisUrl, proxyA), REVOCATION_RECHECK_MS: '3600000' },
    );
    // B and P share A's database, key prefix and secret: the same service behind a load balancer.
    const shared = {
      DATABASE_URL: a.t.infra.config.databaseUrl,
      REDIS_KEY_PREFIX: a.t.infra.config.redisKeyPrefix,
      JWT_SECRET: a.t.infra.config.jwtSecret,
    };
    b = await startInstance(undefined, { ...shared, REDIS_URL: throughProxy(redisUrl, proxyB), REVOCATION_RECHECK_MS: '3600000' });
    p = await startInstance(undefined, { ...shared, REDIS_URL: redisUrl, REVOCATION_RECHECK_MS: String(periodicMs) });
  });
  afterAll(async () => {
    await proxyA?.restore();
    await proxyB?.restore();
    await stopInstance(p);
    await stopInstance(b);
    await stopInstance(a);
    proxyA?.close();
    proxyB?.close();
  }, 30_000);

  /** Cuts `proxies` and waits until each of `apps` sees its KV degraded. */
  const cut = async (proxies: TcpProxy[], apps: TestApp[]) => {
    for (const proxy of proxies) proxy.cut();
    for (const app of apps) await kvStatus(app, 'degraded');
  };
  const restore = async (proxies: TcpProxy[]) => {
    for (const proxy of proxies) await proxy.restore();
  };
  // Each test starts with Redis reachable from every instance (a failed test may have left a cut).
  beforeEach(async () => {
    await restore([proxyA, proxyB]);
    for (const app of [a.t, b.t, p.t]) await kvStatus(app, 'ok');
  });

  test('security: socket and SSE reader on A, Redis cut, logout on B → 204; once Redis is back, A’s socket gets error "Session has ended" and 4401 and the reader its error event, within 1 s of A’s KV being back; what still holds stays open', async () => {
    const user = await register(a.http);
    const sameUserElsewhere = await login(a.http, user.email, user.password);
    const key = await createApiKey(a.http, sameUserElsewhere.accessToken);
    const bystander = await register(a.http);

    const revoked = await openSocket(a, user.accessToken);
    const { reader, firstId } = await streamReader(a, user.accessToken);
    const kept = [
      await openSocket(a, sameUserElsewhere.accessToken),
      await openSocket(a, key.key),
      await openSocket(a, bystander.accessToken),
    ];
    const keptReader = await streamReader(a, bystander.accessToken);

    await cut([proxyA, proxyB], [a.t, b.t]);
    try {
      expect((await post(b.http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);
      // B could not tell anyone: A's connections are still open while its KV is away.
      expect(revoked.socket.isOpen).toBe(true);
    } finally {
      await restore([proxyA, proxyB]);
    }
    await Promise.all([
      expectEnded(revoked, backAt(a.t), 'Session has ended', withinMs),
      expectSseEnded(reader, firstId, 'Session has ended', withinMs),
    ]);
    expect(a.t.logs.some((line) => line.msg === 'live connections ended by a re-check')).toBe(true);

    // Another session of the same user, its API key, another user: untouched by this re-check or the next.
    await a.t.services.live.recheck();
    for (const { socket } of kept) await expectAlive(socket);
    await expectStatus(
      await post(a.http, `/api/v1/streams/${keptReader.id}/append`, bystander.accessToken, { event: 'note', data: { n: 2 } }),
      202,
    );
    expect(copy(await keptReader.reader.next())).toMatchObject({ event: 'note', data: { n: 2 } });
    await kvStatus(b.t, 'ok');
  });

  test('security: a user disabled on B while Redis is cut: once Redis is back, A’s socket (API key) gets error "This account is disabled" and 4401 and the SSE reader (token) its error event; another user’s socket stays open', async () => {
    const user = await register(a.http);
    const key = await createApiKey(a.http, user.accessToken);
    const bystander = await register(a.http);
    const revoked = await openSocket(a, key.key);
    const { reader, firstId } = await streamReader(a, user.accessToken);
    const kept = await openSocket(a, bystander.accessToken);

    await cut([proxyA, proxyB], [a.t, b.t]);
    try {
      const response = await b.http(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } });
      await response.arrayBuffer();
      // The disable is stored and answered, even though announcing it needs the KV.
      expect(response.status).toBe(200);
      expect(await meStatus(b.http, key.key)).toBe(403);
    } finally {
      await restore([proxyA, proxyB]);
    }
    await Promise.all([
      expectEnded(revoked, backAt(a.t), 'This account is disabled', withinMs),
      expectSseEnded(reader, firstId, 'This account is disabled', withinMs),
    ]);
    await a.t.services.live.recheck();
    await expectAlive(kept.socket);
    await kvStatus(b.t, 'ok');
  });

  test('security: only A loses Redis: B publishes the logout while A’s subscription is down; A’s socket ends within 1 s of A’s KV being back (A noticed its own outage)', async () => {
    const user = await register(a.http);
    const key = await createApiKey(a.http, user.accessToken);
    const revoked = await openSocket(a, key.key);
    const kept = await openSocket(a, user.accessToken);

    const bLogsFrom = b.t.logs.length;
    await cut([proxyA], [a.t]);
    try {
      const response = await b.http(`/api/v1/auth/api-keys/${key.id}`, { method: 'DELETE', headers: bearer(user.accessToken) });
      await response.arrayBuffer();
      expect(response.status).toBe(204);
      // B's KV was up: the notice went out, and no one will say it again.
      expect(b.t.infra.kv.status()).toBe('ok');
      expect(b.t.logs.slice(bLogsFrom).some((line) => String(line.msg).startsWith('could not publish a revocation'))).toBe(false);
    } finally {
      await restore([proxyA]);
    }
    await expectEnded(revoked, backAt(a.t), 'API key has been revoked', withinMs);
    await expectAlive(kept.socket);
  });

  test('security: only B loses Redis: its logout is lost on pub/sub, yet P’s socket and SSE reader end within REVOCATION_RECHECK_MS + 1 s, before B is back (the periodic re-check)', async () => {
    const user = await register(p.http);
    const other = await login(p.http, user.email, user.password);
    const revoked = await openSocket(p, user.accessToken);
    const { reader, firstId } = await streamReader(p, user.accessToken);
    const kept = await openSocket(p, other.accessToken);

    await cut([proxyB], [b.t]);
    try {
      expect((await post(b.http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);
      const loggedOutAt = Date.now();
      await Promise.all([
        expectEnded(revoked, loggedOutAt, 'Session has ended', periodicMs + 1000),
        expectSseEnded(reader, firstId, 'Session has ended', periodicMs + 1000),
      ]);
      expect(b.t.infra.kv.status()).toBe('degraded');
      // Several periodic re-checks later, the other session's socket is still open.
      await Bun.sleep(periodicMs * 3);
      await expectAlive(kept.socket);
    } finally {
      await restore([proxyB]);
    }
    await kvStatus(b.t, 'ok');
  });

  test('security: only B loses Redis: once B is back it asks every instance to re-check, so A’s socket (A never cut, periodic re-check hourly) ends within 1 s of B’s KV being back', async () => {
    const user = await register(a.http);
    const other = await login(a.http, user.email, user.password);
    const revoked = await openSocket(a, user.accessToken);
    const { reader, firstId } = await streamReader(a, user.accessToken);
    const key = await createApiKey(a.http, user.accessToken);
    const kept = await openSocket(a, key.key);

    await cut([proxyB], [b.t]);
    try {
      const sessionId = await currentSessionId(b.http, user.accessToken);
      const response = await b.http(`/api/v1/auth/sessions/${sessionId}`, { method: 'DELETE', headers: bearer(other.accessToken) });
      await response.arrayBuffer();
      expect(response.status).toBe(204);
      await Bun.sleep(300);
      // Nothing reached A: its KV never went away, so only B's word can prompt a re-check.
      expect(revoked.socket.isOpen).toBe(true);
    } finally {
      await restore([proxyB]);
    }
    await Promise.all([
      expectEnded(revoked, backAt(b.t), 'Session has ended', withinMs),
      expectSseEnded(reader, firstId, 'Session has ended', withinMs),
    ]);
    await expectAlive(kept.socket);
  });

  describe('the re-check itself (A’s database, memory KV: nothing heard on pub/sub)', () => {
    /** A's database, counting its queries, that can be made to fail like an unreachable server. */
    const switchableDb = () => {
      const real = a.t.infra.db;
      const state = { down: false, runs: 0 };
      const db: Database = Object.create(real);
      db.run = (work, tx) => {
        state.runs++;
        if (state.down) return Promise.reject(new Error('connect ECONNREFUSED (test)'));
        return real.run(work, tx);
      };
      return { db, state };
    };
    const setup = (db: Database) => {
      const logs: Record<string, unknown>[] = [];
      const log = createLogger('debug', (line) => logs.push(JSON.parse(line)));
      const revocations = createRevocations({ kv: createMemoryStore(), log, db });
      // Hourly: only the re-checks the test asks for run.
      const live = createLiveConnections({ log, config: { revocationRecheckMs: 3_600_000 } }, revocations);
      return { live, logs };
    };
    const tokenCaller = (userId: string, sessionId: string) =>
      ({
        user: { id: userId },
        isAdmin: false,
        via: 'token',
        sessionId,
        tokenId: 't',
        tokenExpiresAt: null,
        apiKeyId: null,
        apiKeyExpiresAtMs: null,
      }) as Caller & { user: { id: string } };
    const keyCaller = (userId: string, apiKeyId: string) =>
      ({ ...tokenCaller(userId, ''), via: 'apiKey', sessionId: null, apiKeyId }) as Caller & { user: { id: string } };

    test('happy: a re-check of many connections costs one query per kind, ends only those whose credentials stopped working, and says why', async () => {
      const { db, state } = switchableDb();
      const { live } = setup(db);
      await live.ready();
      const accounts: { user: Account; sessionId: string; keyId: string }[] = [];
      for (let i = 0; i < 3; i++) {
        const user = await register(a.http);
        const key = await createApiKey(a.http, user.accessToken);
        accounts.push({ user, sessionId: await currentSessionId(a.http, user.accessToken), keyId: key.id });
      }
      const ended = new Map<string, EndReason[]>();
      const watch = (label: string, caller: Caller & { user: { id: string } }) => {
        ended.set(label, []);
        return live.watch(caller, performance.now(), (reason) => ended.get(label)!.push(reason));
      };
      for (const [i, { user, sessionId, keyId }] of accounts.entries()) {
        // Two connections on each credential.
        for (const n of [1, 2]) {
          watch(`token ${i}.${n}`, tokenCaller(user.userId, sessionId));
          watch(`key ${i}.${n}`, keyCaller(user.userId, keyId));
        }
      }
      expect(live.size()).toBe(12);

      // Stored on B; this registry hears none of it.
      const [first, second, third] = accounts;
      expect((await post(b.http, '/api/v1/auth/logout', first!.user.accessToken)).status).toBe(204);
      expect(
        (await b.http(`/api/v1/auth/api-keys/${second!.keyId}`, { method: 'DELETE', headers: bearer(second!.user.accessToken) })).status,
      ).toBe(204);
      await expectStatus(
        await b.http(`/api/v1/admin/users/${third!.user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } }),
        200,
      );

      state.runs = 0;
      await live.recheck();
      expect(state.runs).toBe(3);
      const session = [{ code: 'unauthorized', message: 'Session has ended' }] as EndReason[];
      const apiKey = [{ code: 'unauthorized', message: 'API key has been revoked' }] as EndReason[];
      const disabled = [{ code: 'unauthorized', message: 'This account is disabled' }] as EndReason[];
      expect(Object.fromEntries(ended)).toEqual({
        'token 0.1': session,
        'token 0.2': session,
        'key 0.1': [],
        'key 0.2': [],
        'token 1.1': [],
        'token 1.2': [],
        'key 1.1': apiKey,
        'key 1.2': apiKey,
        'token 2.1': disabled,
        'token 2.2': disabled,
        'key 2.1': disabled,
        'key 2.2': disabled,
      });
      expect(live.size()).toBe(4);

      // A connection whose credentials were checked before that re-check, registering only now, ends at once.
      const late: EndReason[] = [];
      live.watch(tokenCaller(first!.user.userId, first!.sessionId), 0, (reason) => late.push(reason));
      expect(late).toEqual(session);
      await live.close();
    });

    test('error: a re-check the database cannot answer ends nothing and logs a warning; the next one ends what stopped working', async () => {
      const { db, state } = switchableDb();
      const { live, logs } = setup(db);
      await live.ready();
      const user = await register(a.http);
      const ended: EndReason[] = [];
      live.watch(tokenCaller(user.userId, await currentSessionId(a.http, user.accessToken)), performance.now(), (reason) =>
        ended.push(reason),
      );
      expect((await post(b.http, '/api/v1/auth/logout', user.accessToken)).status).toBe(204);

      state.down = true;
      await live.recheck();
      expect(ended).toEqual([]);
      expect(live.size()).toBe(1);
      expect(logs.find((line) => line.msg === 'could not re-check live connections; trying again later')).toMatchObject({ level: 'warn' });

      state.down = false;
      await live.recheck();
      expect(ended).toEqual([{ code: 'unauthorized', message: 'Session has ended' }]);
      expect(live.size()).toBe(0);
      await live.close();
    });

    test('happy: with nothing watched, a re-check queries nothing', async () => {
      const { db, state } = switchableDb();
      const { live } = setup(db);
      await live.ready();
      await live.recheck();
      expect(state.runs).toBe(0);
      await live.close();
    });
  });
});
