import { type Column, Param, type SQL, sql } from 'drizzle-orm';

/**
 * A named placeholder bound through `column`'s encoder, for prepared queries (`db.prepare`):
 * a Date becomes epoch milliseconds on SQLite and a timestamp on Postgres, a boolean 0/1 or
 * true/false. Drizzle's `eq(column, sql.placeholder(name))` passes the raw value instead, which
 * only works for text. As SQL, it goes anywhere a value does, `update().set()` included.
 */
export function bound(column: Column, name: string): SQL {
  return sql`${new Param(sql.placeholder(name), column)}`;
}

/** A named placeholder as SQL, for values that need no encoding (text, numbers) in `update().set()`. */
export function slot(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}
