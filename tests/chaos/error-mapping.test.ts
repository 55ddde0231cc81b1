// The one mapping from infrastructure failures to the contract: real errors of an unreachable
// Postgres (through Drizzle), a locked SQLite and an unreachable Redis are 503 `unavailable` with
// Retry-After, logged with the request id; bugs and bad values stay what they are (a 500 stays a
// 500, without internals).

import { Database as SqliteClient } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Elysia } from 'elysia';
import { errorHandler } from '../../src/http/error-handler.ts';
import { unavailableFrom } from '../../src/http/errors.ts';
import { isDbUnavailable } from '../../src/infra/db/errors.ts';
import { openPostgres } from '../../src/infra/db/postgres.ts';
import { KvUnavailableError } from '../../src/infra/kv/errors.ts';
import { createRedisStore } from '../../src/infra/kv/redis.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { hasRedis, redisUrl } from '../helpers/services.ts';
import { freePort } from '../helpers/tcp-proxy.ts';

/** What `work` rejects with. */
const failureOf = (work: () => Promise<unknown>) =>
  work().then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );

describe('infrastructure errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-busy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('error: Postgres refusing connections, through Drizzle, is an outage', async () => {
    const db = openPostgres(`postgres://postgres@127.0.0.1:${freePort()}/nowhere`);
    try {
      const error = await failureOf(() => db.run((q) => q.select().from(db.tables.users)));
      expect(isDbUnavailable(error)).toBe(true);
      expect(unavailableFrom(error)?.status).toBe(503);
      expect(isDbUnavailable(await failureOf(() => db.transaction(async () => undefined)))).toBe(true);
    } finally {
      await db.close();
    }
  });

  test('error: SQLite still locked after its busy timeout is an outage', () => {
    const path = join(dir, 'busy.db');
    const holder = new SqliteClient(path, { create: true });
    holder.exec('PRAGMA journal_mode = WAL');
    holder.exec('CREATE TABLE t (x)');
    const waiter = new SqliteClient(path);
    waiter.exec('PRAGMA busy_timeout = 10');
    holder.exec('BEGIN IMMEDIATE');
    let error: unknown;
    try {
      waiter.exec('INSERT INTO t VALUES (1)');
    } catch (caught) {
      error = caught;
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
      waiter.close();
    }
    expect(isDbUnavailable(error)).toBe(true);
  });

  test('error: a server shutting down or refusing more connections is an outage; a bad query is not', () => {
    const postgresError = (code: string) => Object.assign(new Error(code), { name: 'PostgresError', code });
    const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1'), { cause });
    for (const code of ['57P01', '57P03', '08006', '53300'])
      expect(`${code} ${isDbUnavailable(wrapped(postgresError(code)))}`).toBe(`${code} true`);
    for (const code of ['42601', '23505', '22P02', '40001'])
      expect(`${code} ${isDbUnavailable(wrapped(postgresError(code)))}`).toBe(`${code} false`);
    expect(isDbUnavailable(Object.assign(new Error('write CONNECTION_ENDED 127.0.0.1:5432'), { code: 'CONNECTION_ENDED' }))).toBe(true);
    expect(isDbUnavailable(new Error('ECONNREFUSED in the message only'))).toBe(false);
    expect(isDbUnavailable(null)).toBe(false);
    expect(unavailableFrom(new Error('boom'))).toBeUndefined();
  });

  test.if(hasRedis)('error: an unreachable Redis is KvUnavailableError; a Redis reply error keeps its own type', async () => {
    const log = createLogger('error', () => undefined);
    const down = await createRedisStore(`redis://127.0.0.1:${freePort()}`, { prefix: 'unused:', log, connectTimeoutMs: 300 });
    const up = await createRedisStore(redisUrl, { prefix: `parley_test_mapping_${Date.now()}:`, log });
    try {
      expect(await failureOf(() => down.get('x'))).toBeInstanceOf(KvUnavailableError);
      await up.set('text', 'not a number', { ttlMs: 10_000 });
      const wrongType = await failureOf(() => up.incr('text'));
      expect(wrongType).not.toBeInstanceOf(KvUnavailableError);
      expect(unavailableFrom(wrongType)).toBeUndefined();
      // Arguments refused before Redis is asked are not an outage either.
      expect(await failureOf(() => up.consumeWindows([{ key: 'w', limit: 1, ttlMs: 0 }]))).not.toBeInstanceOf(KvUnavailableError);
    } finally {
      await up.del('text');
      await Promise.all([down.close(), up.close()]);
    }
  });
});

describe('the error handler', () => {
  const logs: Record<string, unknown>[] = [];
  let app: Elysia;
  beforeAll(() => {
    const log = createLogger('debug', (line) => logs.push(JSON.parse(line)));
    const busy = Object.assign(new Error('database is locked'), { name: 'SQLiteError', code: 'SQLITE_BUSY' });
    const refused = Object.assign(new Error('Failed query: select …'), {
      cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' }),
    });
    app = new Elysia()
      .use(errorHandler(log))
      .get('/kv', () => {
        throw new KvUnavailableError('get', new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      })
      .get('/pg', () => {
        throw refused;
      })
      .get('/sqlite', () => {
        throw busy;
      })
      .get('/bug', () => {
        throw new Error('a bug');
      }) as unknown as Elysia;
  });

  test('error: KV and database outages are 503 unavailable with Retry-After, logged as warnings with the request id; a bug is still a 500', async () => {
    for (const path of ['/kv', '/pg', '/sqlite']) {
      const response = await app.handle(new Request(`http://localhost${path}`));
      const text = await response.text();
      expect(`${path} ${response.status}`).toBe(`${path} 503`);
      expect(JSON.parse(text).error.code).toBe('unavailable');
      expect(text).not.toMatch(/10\.0\.0\.5|writeable|locked/);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(logs.at(-1)).toMatchObject({ level: 'warn', msg: 'request failed', route: path, status: 503, code: 'unavailable' });
      // The driver's own message, never a wrapper's quoting the query and its values.
      expect(String(logs.at(-1)?.cause)).toMatch(/writeable|ECONNREFUSED|locked/);
      expect(String(logs.at(-1)?.cause)).not.toContain('Failed query');
    }
    const bug = await app.handle(new Request('http://localhost/bug'));
    expect(bug.status).toBe(500);
    expect(bug.headers.get('retry-after')).toBeNull();
  });
});
