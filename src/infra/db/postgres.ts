import { AsyncLocalStorage } from 'node:async_hooks';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { readMigrations } from './migrations.macro.ts' with { type: 'macro' };
import * as schema from './schema.pg.ts';
import type { Database, Db, DialectMigrator, Preparable, PreparedInfo } from './types.ts';

const migrations = readMigrations('pg');
// Any constant works; it only has to be the same on every instance that migrates.
const migrationLockId = 7_270_345_001;

export function openPostgres(url: string, options: { maxConnections?: number } = {}): Database {
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
  });
  const db: Db = drizzle({ client, schema });
  const scope = new AsyncLocalStorage<Db>();
  const prepared: PreparedInfo[] = [];

  return {
    kind: 'postgres',
    tables: schema,
    run(work) {
      return work(scope.getStore() ?? db);
    },
    transaction(work) {
      const current = scope.getStore();
      if (current) return work(current);
      return db.transaction((tx) => scope.run(tx as unknown as Db, () => work(tx as unknown as Db)));
    },
    prepare<P extends Record<string, unknown>, R>(name: string, build: (db: Db) => Preparable<R>) {
      let statement: ReturnType<Preparable<R>['prepare']> | undefined;
      return (values: P): Promise<R> => {
        // A transaction owns one connection: the query must run there, built for it.
        const tx = scope.getStore();
        if (tx) return build(tx).prepare(name).execute(values);
        if (!statement) {
          const query = build(db);
          prepared.push({ name, sql: query.toSQL().sql });
          statement = query.prepare(name);
        }
        return statement.execute(values);
      };
    },
    preparedQueries: () => [...prepared],
    async migrate() {
      // Instances starting together take turns; the second finds nothing left to apply.
      const lock = await client.reserve();
      try {
        await lock`SELECT pg_advisory_lock(${migrationLockId})`;
        const before = await countApplied(db);
        const migrator = db as unknown as DialectMigrator;
        await migrator.dialect.migrate(migrations, migrator.session, { migrationsFolder: '' });
        return (await countApplied(db)) - before;
      } finally {
        await lock`SELECT pg_advisory_unlock(${migrationLockId})`.catch(() => undefined);
        lock.release();
      }
    },
    async ping() {
      const started = performance.now();
      await db.execute(sql`SELECT 1`);
      return performance.now() - started;
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

async function countApplied(db: Db): Promise<number> {
  const rows = await db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'drizzle' AND tablename = '__drizzle_migrations'`,
  );
  if (!rows[0]?.n) return 0;
  const applied = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
  return applied[0]?.n ?? 0;
}
