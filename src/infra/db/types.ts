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

/** A Drizzle query builder written with `sql.placeholder(name)` where its values go. */
export type Preparable<R> = {
  prepare(name: string): { execute(values?: Record<string, unknown>): Promise<R> };
  toSQL(): { sql: string };
};

/** A prepared query: binds `values` (by placeholder name) and runs; resolves to the builder's result. */
export type PreparedQuery<P extends Record<string, unknown>, R> = (values: P) => Promise<R>;

/** A prepared query's name and SQL text, for diagnostics (EXPLAIN in tests). */
export type PreparedInfo = { name: string; sql: string };

export type Database = {
  readonly kind: DatabaseKind;
  readonly tables: Tables;
  /** Runs queries outside any transaction (or inside the caller's, when there is one). */
  run<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /** All or nothing, on both dialects; nested calls join the outer transaction. */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * A query for a hot path: `build` runs once, the first time the query is used, and the
   * statement is prepared once per process (bun:sqlite) or per pooled connection (Postgres);
   * each call only binds values. Values compared with a Date column must be bound through
   * `sql.param(sql.placeholder(name), column)` so each dialect encodes them (Drizzle's `eq`
   * does not encode a bare placeholder). Inside a transaction, Postgres runs it on the
   * transaction's connection.
   */
  prepare<P extends Record<string, unknown>, R>(name: string, build: (db: Db) => Preparable<R>): PreparedQuery<P, R>;
  /** Every prepared query built so far, with its SQL text. */
  preparedQueries(): PreparedInfo[];
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
