// Type-level checks (tsc --noEmit covers tests): module code sees only the query builder both
// dialects share. Each `@ts-expect-error` fails the type check if the call ever compiles.
import { expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../../src/infra/db/index.ts';

// Never called: only compiled.
function dialectOnlyCallsDoNotCompile(db: Db, tx: Tx): Tx {
  // @ts-expect-error Postgres-only; raw SQL goes through Database.raw.
  db.execute(sql`SELECT 1`);
  // @ts-expect-error Postgres-only, on a transaction's handle too.
  tx.execute(sql`SELECT 1`);
  // @ts-expect-error SQLite-only.
  db.all(sql`SELECT 1`);
  // @ts-expect-error SQLite-only.
  db.get(sql`SELECT 1`);
  // @ts-expect-error SQLite-only.
  db.run(sql`SELECT 1`);
  // @ts-expect-error Postgres-only builder.
  db.selectDistinctOn([]);
  // @ts-expect-error The driver's client is not reachable.
  db.$client;
  // @ts-expect-error Transactions go through Database.transaction, which hands out a Tx.
  db.transaction(async () => undefined);
  // @ts-expect-error A plain Db is not a unit of work's handle.
  const notTx: Tx = db;
  return notTx;
}

test('error: Db and Tx expose only the builder both dialects share (checked by tsc)', () => {
  expect(dialectOnlyCallsDoNotCompile).toBeInstanceOf(Function);
});
