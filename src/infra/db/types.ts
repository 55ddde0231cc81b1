import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type * as pgSchema from './schema.pg.ts';

/** The tables, typed once. SQLite's mirror has the same names, columns and value types. */
export type Tables = typeof pgSchema;

/**
 * The query builder features use, for both dialects. Typed as Postgres's; SQLite's builder
 * accepts the same awaited calls (select/insert/update/delete, returning, onConflict…).
 * Stay within those: no `.execute()`, `.all()`, `.get()` or `.run()`.
 */
export type Db = PostgresJsDatabase<Tables>;

export type DatabaseKind = 'sqlite' | 'postgres';

export type Database = {
  readonly kind: DatabaseKind;
  readonly tables: Tables;
  /** Runs queries outside any transaction (or inside the caller's, when there is one). */
  run<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /** All or nothing, on both dialects; nested calls join the outer transaction. */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
  /** Applies the embedded migrations; returns how many were new. */
  migrate(): Promise<number>;
  /** Round-trip time of a trivial query, in milliseconds. */
  ping(): Promise<number>;
  close(): Promise<void>;
};

/** Drizzle's own migrator, which its public types hide; we feed it the embedded migrations. */
export type DialectMigrator = {
  dialect: { migrate(migrations: unknown[], session: unknown, config: { migrationsFolder: string }): unknown };
  session: unknown;
};
