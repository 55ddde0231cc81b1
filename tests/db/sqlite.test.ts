import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../../src/infra/db/sqlite.ts';
import { runStorageSuite } from './storage-suite.ts';

runStorageSuite('SQLite (bun:sqlite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-sqlite-'));
  return { db: openSqlite(join(dir, 'nested/parley.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
