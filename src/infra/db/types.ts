import type { SQL } from 'drizzle-orm';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { MigrationStatus } from './migration-status.ts';
import type * as pgSchema from './schema.pg.ts';

/** The tables, typed once. SQLite's mirror has the same names, columns and value types. */
export type Tables = typeof pgSchema;

/**
 * The query builder features use, for both dialects: only the builder entry points both
 * Drizzle drivers share, typed as Postgres's (SQLite's accepts the same awaited calls:
 * returning, onConflict…). Postgres-only `execute()` and SQLite-only `all()`, `get()`, `run()`
 * are not part of it, so module code cannot call them; raw SQL goes through `Database.raw`.
 */
export type Db = Pick<
  PostgresJsDatabase<Tables>,
  'select' | 'selectDistinct' | 'insert' | 'update' | 'delete' | 'with' | '$with' | '$count'
>;

declare const unitOfWork: unique symbol;

/**
 * A transaction's handle: a `Db` whose queries belong to one unit of work. Only
 * `Database.transaction` makes one, and it is valid until that callback settles.
 *
 * The rule, for a reader: inside `db.transaction(async (tx) => …)`, every query and every
 * repository call receives `tx` (`repo.with(tx).method(…)`, `db.run(work, tx)`,
 * `prepared(values, tx)`, `db.raw(statement, tx)`). A call in the callback that does not is a
 * bug, even where it happens to work today: code below a unit of work that was never handed
 * `tx` joins it only through an implicit fallback (see `Database.run`), kept for nested
 * transactions and helpers that only know `Database`.
 */
export type Tx = Db & { readonly [unitOfWork]: true };

export type DatabaseKind = 'sqlite' | 'postgres';

/** A Drizzle query builder written with `sql.placeholder(name)` where its values go. */
export type Preparable<R> = {
  prepare(name: string): { execute(values?: Record<string, unknown>): Promise<R> };
  toSQL(): { sql: string };
};

/**
 * A prepared query: binds `values` (by placeholder name) and runs; resolves to the builder's
 * result. With `tx`, it runs inside that unit of work.
 */
export type PreparedQuery<P extends Record<string, unknown>, R> = (values: P, tx?: Tx) => Promise<R>;

/** A prepared query's name and SQL text, for diagnostics (EXPLAIN in tests). */
export type PreparedInfo = { name: string; sql: string };

export type Database = {
  readonly kind: DatabaseKind;
  readonly tables: Tables;
  /**
   * Runs queries: on `tx` when given (inside its unit of work), otherwise outside any
   * transaction. Without `tx` inside a transaction's callback, it still joins that
   * transaction (the implicit fallback for nested code); call sites must not rely on it.
   */
  run<T>(work: (db: Db) => Promise<T>, tx?: Tx): Promise<T>;
  /**
   * All or nothing, on both dialects: `work` receives the unit of work's handle and passes it
   * to every query it makes (see `Tx`). A nested call joins the outer transaction.
   */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Raw SQL written for `kind` (the caller branches on it), resolving to its rows: the one
   * door for dialect-specific statements (full-text search, EXPLAIN, SET LOCAL). With `tx`,
   * it runs inside that unit of work; otherwise as `run` does.
   */
  raw<T extends Record<string, unknown>>(statement: SQL, tx?: Tx): Promise<T[]>;
  /**
   * A query for a hot path: `build` runs once, the first time the query is used, and the
   * statement is prepared once per process (bun:sqlite) or per pooled connection (Postgres);
   * each call only binds values. Values compared with a Date column must be bound through
   * `sql.param(sql.placeholder(name), column)` so each dialect encodes them (Drizzle's `eq`
   * does not encode a bare placeholder). Given a `tx`, Postgres runs it on the transaction's
   * connection.
   */
  prepare<P extends Record<string, unknown>, R>(name: string, build: (db: Db) => Preparable<R>): PreparedQuery<P, R>;
  /** Every prepared query built so far, with its SQL text. */
  preparedQueries(): PreparedInfo[];
  /** Applies the embedded migrations; returns how many were new. */
  migrate(): Promise<number>;
  /** Which embedded migrations the database has and which are pending (for `parley migrate --status`). */
  migrationStatus(): Promise<MigrationStatus>;
  /** Round-trip time of a trivial query, in milliseconds. */
  ping(): Promise<number>;
  close(): Promise<void>;
};

/** Drizzle's own migrator, which its public types hide; we feed it the embedded migrations. */
export type DialectMigrator = {
  dialect: { migrate(migrations: unknown[], session: unknown, config: { migrationsFolder: string }): unknown };
  session: unknown;
};
