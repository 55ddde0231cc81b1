import { Database as SqliteClient } from 'bun:sqlite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SQL } from 'drizzle-orm';
import { type BunSQLiteDatabase, drizzle } from 'drizzle-orm/bun-sqlite';
import { type MigrationRecord, migrationStatus } from './migration-status.ts';
import { readMigrations } from './migrations.macro.ts' with { type: 'macro' };
import * as schema from './schema.sqlite.ts';
import { backupSqlite } from './sqlite-backup.ts';
import type { Database, Db, DialectMigrator, Preparable, PreparedInfo, Tables, Tx } from './types.ts';

const migrations = readMigrations('sqlite');

// `active` turns false when the unit of work ends: work it started that outlives it (a
// fire-and-forget call) must then queue for the lock like anyone else.
type Scope = { inTransaction: boolean; active: boolean };

/**
 * bun:sqlite is one synchronous connection, and Drizzle's transaction() on it cannot await
 * (an async callback commits before it throws). So this door owns transactions itself, and
 * serialises every unit of work behind one lock: between the awaits of a transaction, no other
 * request's query can slip into it. A query given the transaction's `tx` runs at once (the
 * transaction holds the lock); one without it, inside the callback, re-enters through
 * AsyncLocalStorage instead of queueing behind its own transaction.
 */
export type SqliteOptions = {
  /**
   * Before `migrate` applies anything to a database that has migrations already (so holds data),
   * it is copied beside itself (sqlite-backup.ts) and only the newest this many copies are kept;
   * 0 takes none. Default 0.
   */
  backupsKept?: number;
  /** Told the path of each backup taken. */
  onBackup?: (file: string) => void;
};

export function openSqlite(path: string, options: SqliteOptions = {}): Database {
  const backupsKept = path === ':memory:' ? 0 : (options.backupsKept ?? 0);
  // The data directory holds the database and the JWT secret: its owner only.
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const client = new SqliteClient(path, { create: true, strict: true });
  client.exec('PRAGMA journal_mode = WAL');
  client.exec('PRAGMA synchronous = NORMAL');
  client.exec('PRAGMA foreign_keys = ON');
  client.exec('PRAGMA busy_timeout = 5000');
  const orm: BunSQLiteDatabase<typeof schema> = drizzle({ client, schema });
  const db = orm as unknown as Db;
  // One connection: every transaction's handle is the connection's builder, valid while open.
  const tx = orm as unknown as Tx;
  let txOpen = false;
  const scope = new AsyncLocalStorage<Scope>();
  let queue: Promise<unknown> = Promise.resolve();
  // Units of work queued or running: when none is, a prepared statement may run at once.
  let pending = 0;
  const prepared: PreparedInfo[] = [];

  // `work` may hand back a plain value despite its type (a synchronous bun:sqlite call): await it.
  const within = async <T>(inTransaction: boolean, work: () => Promise<T>): Promise<T> => {
    const state: Scope = { inTransaction, active: true };
    try {
      return await scope.run(state, work);
    } finally {
      state.active = false;
    }
  };
  const ambient = (): Scope | undefined => {
    const state = scope.getStore();
    return state?.active ? state : undefined;
  };

  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    pending++;
    const result = queue.then(() => within(false, work)).finally(() => pending--);
    queue = result.catch(() => undefined);
    return result;
  };

  const inTransaction = async <T>(work: (tx: Tx) => Promise<T>): Promise<T> => {
    client.exec('BEGIN IMMEDIATE');
    txOpen = true;
    try {
      const result = await within(true, () => work(tx));
      client.exec('COMMIT');
      return result;
    } catch (error) {
      client.exec('ROLLBACK');
      throw error;
    } finally {
      txOpen = false;
    }
  };
  // A handle kept past its callback would run outside the lock, in whatever comes next.
  const assertOpen = (handle: Tx) => {
    if (handle !== tx || !txOpen) throw new Error('A transaction handle was used after its transaction ended');
  };
  const run = <T>(work: (db: Db) => Promise<T>, handle?: Tx): Promise<T> => {
    if (handle) {
      assertOpen(handle);
      return work(db);
    }
    return ambient() ? work(db) : exclusive(() => work(db));
  };

  return {
    kind: 'sqlite',
    tables: schema as unknown as Tables,
    run,
    transaction(work) {
      const current = ambient();
      if (current?.inTransaction) return work(tx);
      if (current) return inTransaction(work);
      return exclusive(() => inTransaction(work));
    },
    raw<T extends Record<string, unknown>>(statement: SQL, handle?: Tx) {
      // Synchronous on bun:sqlite; run() keeps it behind the lock (or inside `handle`'s unit of work).
      return run(async () => orm.all<T>(statement), handle);
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
      return (values: P, handle?: Tx) => {
        if (handle) assertOpen(handle);
        return handle || pending === 0 || ambient() ? execute(values) : exclusive(() => execute(values));
      };
    },
    preparedQueries: () => [...prepared],
    async migrate() {
      return exclusive(async () => {
        const before = countApplied(client);
        if (backupsKept > 0 && before > 0 && migrationStatus(migrations, readRecords(client)).pending.length > 0) {
          options.onBackup?.(backupSqlite(client, path, backupsKept));
        }
        const migrator = orm as unknown as DialectMigrator;
        migrator.dialect.migrate(migrations, migrator.session, { migrationsFolder: '' });
        return countApplied(client) - before;
      });
    },
    migrationStatus: () => exclusive(async () => migrationStatus(migrations, readRecords(client))),
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

const hasMigrationsTable = (client: SqliteClient) =>
  Boolean(
    client.query<{ n: number }, []>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get()
      ?.n,
  );

function countApplied(client: SqliteClient): number {
  if (!hasMigrationsTable(client)) return 0;
  return client.query<{ n: number }, []>('SELECT count(*) AS n FROM __drizzle_migrations').get()?.n ?? 0;
}

/** Drizzle's records of what was applied (none before the first migration). */
function readRecords(client: SqliteClient): MigrationRecord[] {
  if (!hasMigrationsTable(client)) return [];
  return client.query<MigrationRecord, []>('SELECT hash, created_at AS createdAt FROM __drizzle_migrations').all();
}
