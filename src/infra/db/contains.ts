import { type Column, type SQL, sql } from 'drizzle-orm';

/** A LIKE pattern that matches `text` literally anywhere (`%`, `_` and `\` escaped with `\`). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * `expression LIKE pattern ESCAPE '\'`, on both dialects: SQLite has no LIKE escape character
 * by default, so one is named explicitly. `pattern` is a value or a placeholder holding a
 * `containsPattern` result.
 */
export function likeEscaped(expression: SQL | SQL.Aliased | Column, pattern: unknown): SQL {
  return sql`${expression} LIKE ${pattern} ESCAPE '\\'`;
}

/** `expression` contains `text` literally, on both dialects. */
export function containsText(expression: SQL | SQL.Aliased | Column, text: string): SQL {
  return likeEscaped(expression, containsPattern(text));
}
