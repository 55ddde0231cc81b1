import { Database as SqliteClient } from 'bun:sqlite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type BunSQLiteDatabase, drizzle } from 'drizzle-orm/bun-sqlite';
import { readMigrations } from './migrations.macro.ts' with { type: 'macro' };
import * as schema from './schema.sqlite.ts';
import type { Database, Db, DialectMigrator, Preparable, PreparedInfo, Tables } from './types.ts';

const migrations = readMigrations('sqlite');

type Scope = { inTransaction: boolean };

/**
 * bun:sqlite is one synchronous connection, and Drizzle's transaction() on it cannot await
 * (an async callback commits before it throws). So this door owns transactions itself, and
 * serialises every unit of work behind one lock: between the awaits of a transaction, no other
 * request's query can slip into it. Reentrant through AsyncLocalStorage.
 */
export function openSqlite(path: string): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const client = new SqliteClient(path, { create: true, strict: true });
  client.exec('PRAGMA journal_mode = WAL');
  client.exec('PRAGMA synchronous = NORMAL');
  client.exec('PRAGMA foreign_keys = ON');
  client.exec('PRAGMA busy_timeout = 5000');
  const orm: BunSQLiteDatabase<typeof schema> = drizzle({ client, schema });
  const db = orm as unknown as Db;
  const scope = new AsyncLocalStorage<Scope>();
  let queue: Promise<unknown> = Promise.resolve();
  // Units of work queued or running: when none is, a prepared statement may run at once.
  let pending = 0;
  const prepared: PreparedInfo[] = [];

  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    pending++;
    const result = queue.then(() => scope.run({ inTransaction: false }, work)).finally(() => pending--);
    queue = result.catch(() => undefined);
    return result;
  };

  const inTransaction = async <T>(work: (tx: Db) => Promise<T>): Promise<T> => {
    client.exec('BEGIN IMMEDIATE');
    try {
      const result = await scope.run({ inTransaction: true }, () => work(db));
      client.exec('COMMIT');
      return result;
    } catch (error) {
      client.exec('ROLLBACK');
      throw error;
    }
  };

  return {
    kind: 'sqlite',
    tables: schema as unknown as Tables,
    run(work) {
      return scope.getStore() ? work(db) : exclusive(() => work(db));
    },
    transaction(work) {
      const current = scope.getStore();
      if (current?.inTransaction) return work(db);
      if (current) return inTransaction(work);
      return exclusive(() => inTransaction(work));
    },
    prepare<P extends Record<string, unknown>, R>(name: string, build: (db: Db) => Preparable<R>) {
      let statement: ReturnType<Preparable<R>['prepare']> | undefined;
      const execute = async (values: P): Promise<R> => {
        if (!statement) {
          const query = build(db);
          prepared.push({ name, sql: query.toSQL().sql });
          statement = query.prepare(name);
        }
        // bun:sqlite runs it synchronously; execute() hands back the rows themselves.
        return statement.execute(values);
      };
      // Synchronous, so it cannot interleave with anything: only a transaction in progress
      // (another unit of work holding the lock) makes it wait its turn.
      return (values: P) => (pending === 0 || scope.getStore() ? execute(values) : exclusive(() => execute(values)));
    },
    preparedQueries: () => [...prepared],
    async migrate() {
      return exclusive(async () => {
        const before = countApplied(client);
        const migrator = orm as unknown as DialectMigrator;
        migrator.dialect.migrate(migrations, migrator.session, { migrationsFolder: '' });
        return countApplied(client) - before;
      });
    },
    async ping() {
      const started = performance.now();
      client.query('SELECT 1').get();
      return performance.now() - started;
    },
    async close() {
      await queue;
      client.close();
    },
  };
}

function countApplied(client: SqliteClient): number {
  const table = client
    .query<{ n: number }, []>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get();
  if (!table?.n) return 0;
  return client.query<{ n: number }, []>('SELECT count(*) AS n FROM __drizzle_migrations').get()?.n ?? 0;
}
