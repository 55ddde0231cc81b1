import { join } from 'node:path';
import type { Config } from '../../config/index.ts';
import type { Logger } from '../log/index.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { Database } from './types.ts';

export { isDbUnavailable } from './errors.ts';
export type { MigrationInfo, MigrationStatus } from './migration-status.ts';
export type { Database, DatabaseKind, Db, Tables, Tx } from './types.ts';

export const sqliteFileName = 'parley.db';

/**
 * Postgres when DATABASE_URL is set, otherwise SQLite in DATA_DIR, which is backed up beside
 * itself before a migration changes it (SQLITE_BACKUPS; each backup logged to `log`).
 */
export function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'databaseCloseTimeoutMs' | 'sqliteBackups'>,
  log?: Logger,
): Database {
  return config.databaseUrl
    ? openPostgres(config.databaseUrl, { closeTimeoutMs: config.databaseCloseTimeoutMs })
    : openSqlite(sqlitePath(config), {
        backupsKept: config.sqliteBackups,
        onBackup: (file) => log?.info('database backed up before migrating', { file }),
      });
}

/** Where the SQLite database lives, given DATA_DIR. */
export const sqlitePath = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, sqliteFileName);
