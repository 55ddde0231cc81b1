import { type SQL, sql } from 'drizzle-orm';

/**
 * `expression` contains `text` literally (`%` and `_` are not wildcards), on both dialects:
 * SQLite has no LIKE escape character by default, so one is named explicitly.
 */
export function containsText(expression: SQL | SQL.Aliased | import('drizzle-orm').Column, text: string): SQL {
  const pattern = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`${expression} LIKE ${pattern} ESCAPE '\\'`;
}
