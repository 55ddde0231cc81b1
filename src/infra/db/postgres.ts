import { AsyncLocalStorage } from 'node:async_hooks';
import { type SQL, sql } from 'drizzle-orm';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { type MigrationRecord, migrationStatus } from './migration-status.ts';
import { readMigrations } from './migrations.macro.ts' with { type: 'macro' };
import * as schema from './schema.pg.ts';
import type { Database, Db, DialectMigrator, Preparable, PreparedInfo, Tables, Tx } from './types.ts';

const migrations = readMigrations('pg');
// Any constant works; it only has to be the same on every instance that migrates.
const migrationLockId = 7_270_345_001;

/**
 * Postgres through postgres.js: a pool, and a transaction holds one of its connections. A
 * query given the transaction's `tx` runs on that connection; one without it, inside the
 * callback, finds it through AsyncLocalStorage (the fallback for nested code).
 */
export function openPostgres(url: string, options: { maxConnections?: number; closeTimeoutMs?: number } = {}): Database {
  // close() waits this long for queries still held by a connection, then drops them (DATABASE_CLOSE_TIMEOUT_MS).
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
    // After a lost connection postgres.js waits before reconnecting, 3^n/100 s by default (up to
    // 20 s after a few failures), and queries queue meanwhile: once Postgres is back, that is how
    // long requests keep waiting. Capped at 2 s, recovery after an outage is quick.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 2),
  });
  const orm: PostgresJsDatabase<Tables> = drizzle({ client, schema });
  const db: Db = orm;
  const scope = new AsyncLocalStorage<Tx>();
  // Handles of transactions in progress: a handle kept past its callback is refused.
  const open = new WeakSet<Tx>();
  const prepared: PreparedInfo[] = [];

  /** The unit of work to run on: `tx` when given (and still open), else the ambient one, if any. */
  const current = (tx?: Tx): Tx | undefined => {
    if (tx && !open.has(tx)) throw new Error('A transaction handle was used after its transaction ended');
    // Work started in a callback may outlive it; once the transaction ends it runs on the pool.
    const ambient = scope.getStore();
    return tx ?? (ambient && open.has(ambient) ? ambient : undefined);
  };

  return {
    kind: 'postgres',
    tables: schema,
    run(work, tx) {
      return work(current(tx) ?? db);
    },
    transaction(work) {
      const outer = current();
      if (outer) return work(outer);
      return orm.transaction(async (pgTx) => {
        const tx = pgTx as unknown as Tx;
        open.add(tx);
        try {
          return await scope.run(tx, () => work(tx));
        } finally {
          open.delete(tx);
        }
      });
    },
    async raw<T extends Record<string, unknown>>(statement: SQL, tx?: Tx) {
      // The handle is a PgTransaction (or the pool's database): both have execute().
      const target = (current(tx) ?? db) as unknown as PostgresJsDatabase<Tables>;
      return (await target.execute<T>(statement)) as unknown as T[];
    },
    prepare<P extends Record<string, unknown>, R>(name: string, build: (db: Db) => Preparable<R>) {
      let statement: ReturnType<Preparable<R>['prepare']> | undefined;
      return (values: P, tx?: Tx): Promise<R> => {
        if (!statement) {
          const query = build(db);
          prepared.push({ name, sql: query.toSQL().sql });
          statement = query.prepare(name);
        }
        // A transaction owns one connection: the same statement runs there. Drizzle's
        // postgres-js prepared query reads `this.client` when it executes (drizzle-orm 0.45.4,
        // pinned), so a view of it with the transaction's client runs it on that connection.
        const unit = current(tx);
        if (!unit) return statement.execute(values);
        const client = (unit as unknown as { session: { client: unknown } }).session.client;
        return (Object.create(statement, { client: { value: client } }) as typeof statement).execute(values);
      };
    },
    preparedQueries: () => [...prepared],
    async migrate() {
      // Instances starting together take turns; the second finds nothing left to apply.
      const lock = await client.reserve();
      try {
        await lock`SELECT pg_advisory_lock(${migrationLockId})`;
        const before = await countApplied(orm);
        const migrator = orm as unknown as DialectMigrator;
        await migrator.dialect.migrate(migrations, migrator.session, { migrationsFolder: '' });
        return (await countApplied(orm)) - before;
      } finally {
        await lock`SELECT pg_advisory_unlock(${migrationLockId})`.catch(() => undefined);
        lock.release();
      }
    },
    async migrationStatus() {
      return migrationStatus(migrations, await readRecords(orm));
    },
    async ping() {
      const started = performance.now();
      await orm.execute(sql`SELECT 1`);
      return performance.now() - started;
    },
    async close() {
      // postgres.js counts this timeout in seconds.
      await client.end({ timeout: closeTimeoutMs / 1000 });
    },
  };
}

async function hasMigrationsTable(db: PostgresJsDatabase<Tables>): Promise<boolean> {
  const rows = await db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'drizzle' AND tablename = '__drizzle_migrations'`,
  );
  return Boolean(rows[0]?.n);
}

/** Drizzle's records of what was applied (none before the first migration). */
async function readRecords(db: PostgresJsDatabase<Tables>): Promise<MigrationRecord[]> {
  if (!(await hasMigrationsTable(db))) return [];
  const rows = await db.execute<MigrationRecord>(sql`SELECT hash, created_at AS "createdAt" FROM drizzle.__drizzle_migrations`);
  return [...rows];
}

async function countApplied(db: PostgresJsDatabase<Tables>): Promise<number> {
  if (!(await hasMigrationsTable(db))) return 0;
  const applied = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
  return applied[0]?.n ?? 0;
}
