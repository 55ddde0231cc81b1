import { join } from 'node:path';
import type { Config } from '../../config/index.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { Database } from './types.ts';

export { isDbUnavailable } from './errors.ts';
export type { Database, DatabaseKind, Db, Tables, Tx } from './types.ts';

export const sqliteFileName = 'parley.db';

/** Postgres when DATABASE_URL is set, otherwise SQLite in DATA_DIR. */
export function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'databaseCloseTimeoutMs'>): Database {
  return config.databaseUrl
    ? openPostgres(config.databaseUrl, { closeTimeoutMs: config.databaseCloseTimeoutMs })
    : openSqlite(join(config.dataDir, sqliteFileName));
}
