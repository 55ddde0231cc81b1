// `parley migrate` and `parley migrate --status`.
import { existsSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import { type MigrationStatus, openDatabase, sqlitePath } from '../infra/db/index.ts';
import { openSqlite } from '../infra/db/sqlite.ts';
import type { Logger } from '../infra/log/index.ts';

/** Applies the pending migrations (a SQLite database with data is backed up first: SQLITE_BACKUPS). */
export async function migrate(config: Config, log: Logger): Promise<void> {
  const db = openDatabase(config, log);
  try {
    const applied = await db.migrate();
    log.info('migrations up to date', { applied, database: db.kind });
  } finally {
    await db.close();
  }
}

/** Which database, for people: the SQLite file, or Postgres's host and database name (never its credentials). */
export function describeDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): string {
  if (!config.databaseUrl) return `sqlite ${sqlitePath(config)}`;
  const url = new URL(config.databaseUrl);
  return `postgres ${url.host}${url.pathname}`;
}

/** The status as lines of text: one per migration (applied, then pending), then a summary. */
export function formatMigrationStatus(database: string, status: MigrationStatus): string {
  const width = Math.max(0, ...[...status.applied, ...status.pending].map((migration) => migration.tag.length));
  const row = (state: string, tag: string, generatedAt: string | null) =>
    `${state.padEnd(8)} ${tag.padEnd(width)}  ${generatedAt ?? ''}`.trimEnd();
  return [
    `database: ${database}`,
    ...status.applied.map((migration) => row('applied', migration.tag, migration.generatedAt)),
    ...status.pending.map((migration) => row('pending', migration.tag, migration.generatedAt)),
    ...status.unknown.map((record) =>
      row('unknown', `(hash ${record.hash.slice(0, 12)}…, applied by another version)`, record.generatedAt),
    ),
    `${status.applied.length} applied, ${status.pending.length} pending${status.unknown.length ? `, ${status.unknown.length} unknown` : ''}`,
    '',
  ].join('\n');
}

/** Prints the applied and pending migrations; applies nothing, and creates no SQLite file that is not there. */
export async function printMigrationStatus(config: Config, write: (text: string) => void): Promise<void> {
  // No file yet: an empty database in memory has the same status, everything pending.
  const db = !config.databaseUrl && !existsSync(sqlitePath(config)) ? openSqlite(':memory:') : openDatabase(config);
  try {
    write(formatMigrationStatus(describeDatabase(config), await db.migrationStatus()));
  } finally {
    await db.close();
  }
}
